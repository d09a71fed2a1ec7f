// The console in a real browser (Debian's Chromium driven by playwright-core), every control found
// by its role and accessible name: operator sign-in (and a wrong token refused), keys, channels with
// a test on the in-repo BFL fake, the playground on the offline engine feeding the gallery and
// the request log, an asynchronous task's timeline, and a key holder who sees only their own data.
// Screenshots of each main page go to test-artifacts/console/.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { adminToken, call, createKey, startBillingGateway } from './billing-support.js';

const artifacts = join(process.cwd(), 'test-artifacts', 'console');
let gateway: TestGateway;
let upstream: BflFake;
let browser: Browser;
let operator: BrowserContext;
let page: Page;

beforeAll(async () => {
  await mkdir(artifacts, { recursive: true });
  gateway = await startBillingGateway();
  upstream = await startBflFake({ switches: { pollsBeforeReady: 1 } });
  // launch() starts Chromium on a fresh temporary profile (user-data dir) of its own, removed on close.
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
  });
  operator = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  operator.setDefaultTimeout(10_000);
  page = await operator.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  await upstream?.close();
});

/** Waits for what the page shows (the console refreshes on its own), never for a fixed time. */
const eventually = <T>(read: () => Promise<T> | T) => expect.poll(read, { timeout: 10_000, interval: 100 });
const chooseKey = async (target: Page, name: string) => {
  const select = target.getByLabel('Bill to key');
  const value = await select.locator('option', { hasText: name }).getAttribute('value');
  await select.selectOption(value ?? '');
};
/** The decoded width of an <img> in the page: 0 when the browser could not load it as an image. */
interface DecodableImage {
  decode(): Promise<void>;
  naturalWidth: number;
}
const naturalWidth = (image: ReturnType<Page['getByRole']>) => image.evaluate((element) => (element as unknown as DecodableImage).decode().then(() => (element as unknown as DecodableImage).naturalWidth));
/** Every control on the page has an accessible name: in the accessibility tree, no control role appears without one. */
async function expectNamedControls(target: Page): Promise<void> {
  const tree = await target.locator('body').ariaSnapshot();
  const unnamed = tree.split('\n').filter((line) => /^\s*- (button|textbox|combobox|checkbox|radio|spinbutton|slider|link)(\s*$|\s*:|\s*\[)/.test(line));
  expect(unnamed).toStrictEqual([]);
}
/** Saves the page as a test artifact (test-artifacts/console/<name>.png), checking its controls' names first. */
const shot = async (target: Page, name: string) => {
  await expectNamedControls(target);
  await target.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
};
const open = async (target: Page, title: string) => {
  await target.getByRole('navigation', { name: 'Console' }).getByRole('link', { name: title, exact: true }).click();
  await eventually(() => target.getByRole('heading', { level: 1 }).textContent()).toBe(title);
};

describe('the console in a browser', () => {
  it('refuses a wrong admin token, then signs the operator in', async () => {
    await page.goto(`${gateway.url}/console`);
    await page.getByLabel('Admin token', { exact: true }).fill('not-the-admin-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await eventually(() => page.getByRole('alert').textContent()).toContain('Incorrect admin token provided.');
    await shot(page, 'sign-in-refused');

    await page.getByLabel('Admin token', { exact: true }).fill(adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.getByRole('figure').first().waitFor();
    expect(await page.getByRole('button', { name: 'Sign out' }).isVisible()).toBe(true);
  });

  it('creates a key, lists it, and tops it up', async () => {
    await open(page, 'Keys');
    await page.getByLabel('Key name').fill('browser key');
    await page.getByLabel('Initial quota (USD)').fill('2.00');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await page.getByLabel('New key secret').textContent();
    expect(secret).toMatch(/^sk-/);
    const row = page.getByRole('row').filter({ hasText: 'browser key' });
    await eventually(() => row.getByRole('cell').nth(3).textContent()).toBe('$2.00');

    await page.getByRole('button', { name: 'Manage key browser key' }).click();
    await page.getByLabel('Top-up amount (USD)').fill('3.50');
    await page.getByRole('button', { name: 'Top up' }).click();
    await eventually(() => page.getByRole('status').last().textContent()).toContain('balance $5.50');
    await eventually(() => row.getByRole('cell').nth(3).textContent()).toBe('$5.50');
    await page.getByRole('table').last().getByRole('cell', { name: 'topup' }).waitFor();
    await shot(page, 'keys');
  });

  it('creates a channel on the BFL fake and shows the image its test made', async () => {
    await open(page, 'Channels');
    const form = page.getByRole('form', { name: 'Create a channel' });
    await form.getByLabel('Channel name').fill('fake-bfl');
    await form.getByLabel('Provider').selectOption('bfl');
    await form.getByLabel('Base URL').fill(upstream.url);
    await form.getByLabel('Upstream API key').fill(bflFakeApiKey);
    await form.getByLabel('Models', { exact: true }).fill('flux-dev');
    await form.getByRole('button', { name: 'Create channel' }).click();
    await page.getByRole('row').filter({ hasText: 'fake-bfl' }).waitFor();

    await page.getByRole('button', { name: 'Test channel fake-bfl' }).click();
    const image = page.getByRole('img', { name: 'Test image from fake-bfl' });
    await image.waitFor();
    expect(await naturalWidth(image)).toBeGreaterThan(0);
    expect(await page.getByRole('region', { name: 'Test of fake-bfl' }).getByRole('status').textContent()).toMatch(/^OK: flux-dev as flux-dev, \d+ ms, (png|jpeg)$/);
    expect(upstream.requests.some((request) => request.method === 'POST' && request.path === '/v1/flux-dev')).toBe(true);
    await shot(page, 'channels');
    // Disabled and enabled again from the table.
    await page.getByRole('button', { name: 'Disable channel fake-bfl' }).click();
    await page.getByRole('button', { name: 'Enable channel fake-bfl' }).click();
    await page.getByRole('button', { name: 'Disable channel fake-bfl' }).waitFor();
    // Removed again: while any channel is configured, models no channel serves are not offered, and the
    // playground below runs on the offline engine.
    expect((await call(`${gateway.url}/admin/v1/channels/fake-bfl`, { method: 'DELETE', token: adminToken })).status).toBe(204);
  });

  it('generates in the playground on the offline engine; the image shows in the gallery and the request log with its cost', async () => {
    await open(page, 'Playground');
    await chooseKey(page, 'browser key');
    await page.getByLabel('Model').selectOption('dall-e-2');
    await page.getByLabel('Prompt').fill('a red lighthouse in the browser test');
    await page.getByLabel('Size').selectOption('256x256');
    await page.getByRole('button', { name: 'Generate' }).click();
    const result = page.getByRole('region', { name: 'Result' });
    await result.getByRole('img', { name: 'Generated image 1: a red lighthouse in the browser test' }).waitFor();
    await eventually(() => result.textContent()).toContain('cost $0.0160');
    await shot(page, 'playground');

    await open(page, 'Gallery');
    const tile = page.getByRole('img', { name: 'a red lighthouse in the browser test' });
    await tile.waitFor();
    expect(await naturalWidth(tile)).toBe(256);
    expect(await page.getByRole('list', { name: 'Images' }).textContent()).toContain('dall-e-2 · $0.0160');
    await shot(page, 'gallery');

    await open(page, 'Request log');
    const row = page.getByRole('row').filter({ hasText: 'dall-e-2' }).filter({ hasText: '200' }).first();
    await row.getByRole('button', { name: /Details of request/ }).click();
    const details = page.getByRole('region', { name: /^Request / });
    await eventually(() => details.textContent()).toContain('$0.0160 (1 × image at $0.0160)');
    expect(await details.textContent()).toContain('a red lighthouse in the browser test');
    await details.getByRole('img', { name: 'a red lighthouse in the browser test, image 1' }).waitFor();
    await shot(page, 'request-log');
  });

  it("runs an asynchronous task whose timeline reaches 'succeeded'", async () => {
    await open(page, 'Playground');
    await chooseKey(page, 'browser key');
    await page.getByLabel('Model').selectOption('dall-e-2');
    await page.getByLabel('Prompt').fill('an asynchronous kite');
    await page.getByLabel('Size').selectOption('256x256');
    await page.getByRole('radio', { name: 'As a task' }).check();
    await page.getByRole('button', { name: 'Generate' }).click();
    const task = page.getByRole('region', { name: /^Task task_/ });
    await eventually(() => task.getByTestId('task-status').textContent()).toBe('succeeded');
    const timeline = task.getByRole('list', { name: 'Timeline' });
    await eventually(() => timeline.textContent()).toContain('images stored');
    const steps = await timeline.getByRole('listitem').allTextContents();
    expect(steps[0]).toContain('queued');
    expect(steps.at(-1)).toContain('succeeded');

    await open(page, 'Tasks');
    await page.getByRole('row').filter({ hasText: 'an asynchronous kite' }).getByRole('button', { name: /Open task/ }).click();
    await eventually(() => page.getByRole('region', { name: /^Task task_/ }).getByTestId('task-status').textContent()).toBe('succeeded');
    await shot(page, 'tasks');
  });

  it('streams partial images, and edits an uploaded image, in the playground', async () => {
    await open(page, 'Playground');
    await chooseKey(page, 'browser key');
    await page.getByLabel('Model').selectOption('gpt-image-2');
    await page.getByLabel('Prompt').fill('a streamed harbour');
    await page.getByLabel('Size', { exact: true }).fill('1024x1024');
    await page.getByRole('radio', { name: 'Streamed' }).check();
    await page.getByRole('button', { name: 'Generate' }).click();
    const result = page.getByRole('region', { name: 'Result' });
    await result.getByRole('img', { name: 'Generated image 1: a streamed harbour' }).waitFor();
    expect(await result.getByRole('img', { name: /^Partial image/ }).count()).toBe(2);
    expect(await naturalWidth(result.getByRole('img', { name: 'Generated image 1: a streamed harbour' }))).toBe(1024);
    await shot(page, 'playground-streamed');

    const upload = await sharp({ create: { width: 256, height: 256, channels: 4, background: { r: 20, g: 120, b: 200, alpha: 1 } } }).png().toBuffer();
    await page.getByLabel('Model').selectOption('dall-e-2');
    await page.getByLabel('Prompt').fill('the same square, edited');
    await page.getByLabel('Size').selectOption('256x256');
    await page.getByRole('radio', { name: 'Synchronous' }).check();
    await page.getByLabel('Images to edit (optional)').setInputFiles({ name: 'square.png', mimeType: 'image/png', buffer: upload });
    await page.getByRole('button', { name: 'Generate' }).click();
    await result.getByRole('img', { name: 'Generated image 1: the same square, edited' }).waitFor();
    const edits = await call(`${gateway.url}/admin/v1/logs?limit=5`, { token: adminToken });
    expect(edits.body.data.some((entry: any) => entry.endpoint === 'images.edits' && entry.status === 200)).toBe(true);
  });

  it('shows the overview, models and audit pages', async () => {
    await open(page, 'Overview');
    await eventually(() => page.getByRole('definition').first().textContent()).not.toBe('0');
    await shot(page, 'overview');
    await open(page, 'Models & prices');
    await page.getByRole('button', { name: 'Edit price of dall-e-2' }).waitFor();
    await shot(page, 'models');
    await open(page, 'Audit log');
    const audit = page.getByRole('table');
    await eventually(() => audit.textContent()).toContain('key.topped_up');
    expect(await audit.textContent()).toContain('channel.tested');
    expect(await audit.textContent()).not.toContain(bflFakeApiKey);
    await shot(page, 'audit');
  });

  it('lets a key holder sign in and see only their own requests and images', async () => {
    const holder = await createKey(gateway, { name: 'holder', quota_usd: '1.00' });
    const other = await createKey(gateway, { name: 'other', quota_usd: '1.00' });
    for (const [key, prompt] of [
      [holder, 'the holder’s own boat'],
      [other, 'someone else’s boat'],
    ] as const) {
      const made = await call(`${gateway.url}/v1/images/generations`, { token: key.secret, body: { model: 'dall-e-2', size: '256x256', prompt, response_format: 'url' } });
      expect(made.status).toBe(200);
    }
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    context.setDefaultTimeout(10_000);
    try {
      const holderPage = await context.newPage();
      await holderPage.goto(`${gateway.url}/console/logs`);
      await holderPage.getByRole('radio', { name: 'Key holder (API key)' }).check();
      await holderPage.getByLabel('API key', { exact: true }).fill(holder.secret);
      await holderPage.getByRole('button', { name: 'Sign in' }).click();
      await holderPage.getByRole('heading', { name: 'Request log', level: 1 }).waitFor();
      const nav = await holderPage.getByRole('navigation', { name: 'Console' }).textContent();
      expect(nav).not.toContain('Keys');
      expect(nav).not.toContain('Audit log');
      const rows = holderPage.getByRole('table').getByRole('row');
      await eventually(() => rows.count()).toBe(2); // the header and the holder's one request
      await rows.nth(1).getByRole('button', { name: /Details of request/ }).click();
      await eventually(() => holderPage.getByRole('region', { name: /^Request / }).textContent()).toContain('the holder’s own boat');
      await shot(holderPage, 'key-holder-request-log');

      await open(holderPage, 'Gallery');
      await holderPage.getByRole('img', { name: 'the holder’s own boat' }).waitFor();
      expect(await holderPage.getByRole('img', { name: 'someone else’s boat' }).count()).toBe(0);
      await open(holderPage, 'My key');
      await eventually(() => holderPage.getByRole('main').textContent()).toContain('$0.98');
      await shot(holderPage, 'key-holder-account');
    } finally {
      await context.close();
    }
  });
});
