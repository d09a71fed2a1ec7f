// The BFL-compatible API end to end, as a BFL client sees it: POST /bfl/v1/{model} → {id, polling_url},
// poll polling_url with x-key until "Ready", download result.sample from the gateway. On the offline
// engine and on a BFL channel (the BFL fake), with validation, moderation, billing and webhooks.

import { createHmac } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { admin, createKey, startBillingGateway } from './billing-support.js';
import { eventually, fetchImage, json, startReceiver, type Receiver } from './dialects-support.js';
import { capturingLogger } from './routing-support.js';

let fake: BflFake;
let gateway: TestGateway;
let receiver: Receiver;
const log = capturingLogger();

beforeAll(async () => {
  fake = await startBflFake();
  receiver = await startReceiver();
  gateway = await startBillingGateway({
    channels: [
      { name: 'bfl', provider: 'bfl', base_url: fake.url, api_key: bflFakeApiKey, models: ['flux-kontext-max'], poll_interval_ms: 10, timeout_ms: 20_000 },
      // With channels configured the offline engine serves only the models a channel names for it (issue 9, item 14).
      { name: 'offline', provider: 'offline', models: ['flux-1.1-pro', 'flux-kontext-pro', 'flux-dev'] },
    ],
  }, { logger: log.logger });
});
afterAll(async () => {
  await gateway.close();
  await receiver.close();
  await fake.close();
});

async function pollToEnd(pollingUrl: string, key: string): Promise<any> {
  return eventually(async () => {
    const answer = await json(pollingUrl, { headers: { 'x-key': key } });
    expect(answer.status).toBe(200);
    return answer.body.status === 'Pending' ? undefined : answer.body;
  }, 'a BFL result');
}

describe('BFL dialect on the offline engine', () => {
  it('submits with x-key, polls polling_url to Ready, and serves result.sample from the gateway at the asked size; charged once', async () => {
    const { id: keyId, secret } = await createKey(gateway, { quota_usd: '1' });
    const submit = await json(`${gateway.url}/bfl/v1/flux-pro-1.1`, {
      headers: { 'x-key': secret },
      body: { prompt: 'a lighthouse in fog', width: 1024, height: 768, output_format: 'png', seed: 42, safety_tolerance: 2 },
    });
    expect(submit.status).toBe(200);
    expect(Object.keys(submit.body).sort()).toEqual(['id', 'polling_url']);
    expect(submit.body.polling_url).toBe(`${gateway.url}/bfl/v1/get_result?id=${submit.body.id}`);

    const result = await pollToEnd(submit.body.polling_url, secret);
    expect(result).toMatchObject({ id: submit.body.id, status: 'Ready', result: { prompt: 'a lighthouse in fog', seed: 42 } });
    expect(result.result.sample.startsWith(`${gateway.url}/v1/files/`)).toBe(true);
    const image = await fetchImage(result.result.sample);
    expect([image.status, image.format, image.width, image.height]).toEqual([200, 'png', 1024, 768]);

    // The same durable task the OpenAI API shows, charged flux-1.1-pro's $0.04 once.
    const task = await json(`${gateway.url}/v1/images/tasks/${submit.body.id}`, { headers: { authorization: `Bearer ${secret}` } });
    expect(task.body).toMatchObject({ status: 'succeeded', model: 'flux-1.1-pro' });
    expect(await gateway.gateway.billing.account(keyId)).toMatchObject({ charged: 40_000, held: 0 });
  });

  it('accepts Bearer too and the /flux/v1 alias; an edit through input_image (base64) on flux-kontext-pro', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const source = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#3366aa' } }).png().toBuffer();
    const submit = await json(`${gateway.url}/flux/v1/flux-kontext-pro`, {
      headers: { authorization: `Bearer ${secret}` },
      body: { prompt: 'make it night', input_image: source.toString('base64'), aspect_ratio: '4:3' },
    });
    expect(submit.status).toBe(200);
    expect(submit.body.polling_url).toContain('/flux/v1/get_result?id=');
    const result = await pollToEnd(submit.body.polling_url, secret);
    expect(result.status).toBe('Ready');
    const task = await json(`${gateway.url}/v1/images/tasks/${submit.body.id}`, { headers: { authorization: `Bearer ${secret}` } });
    expect(task.body).toMatchObject({ status: 'succeeded', model: 'flux-kontext-pro' });
    const image = await fetchImage(result.result.sample);
    expect(image.format).toBe('png');
    expect((image.width ?? 0) / (image.height ?? 1)).toBeCloseTo(4 / 3, 1);
  });

  it("answers BFL's 422 with a detail list for a bad body, and 'Task not found' for an unknown or another key's id", async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const bad = await json(`${gateway.url}/bfl/v1/flux-pro-1.1`, { headers: { 'x-key': secret }, body: { prompt: 'x', safety_tolerance: 9 } });
    expect(bad.status).toBe(422);
    expect(bad.body.detail[0]).toMatchObject({ loc: ['body', 'safety_tolerance'] });
    expect(bad.headers.get('x-request-id')).toBeTruthy();
    const size = await json(`${gateway.url}/bfl/v1/flux-pro-1.1`, { headers: { 'x-key': secret }, body: { prompt: 'x', width: 1000, height: 768 } });
    expect(size.status).toBe(422);
    expect(size.body.detail[0].msg).toContain('32');
    const noKey = await json(`${gateway.url}/bfl/v1/flux-pro-1.1`, { body: { prompt: 'x' } });
    expect(noKey.status).toBe(401);
    expect(typeof noKey.body.detail).toBe('string');
    const unknown = await json(`${gateway.url}/bfl/v1/flux-pro-9`, { headers: { 'x-key': secret }, body: { prompt: 'x' } });
    expect(unknown.status).toBe(404);

    const submit = await json(`${gateway.url}/bfl/v1/flux-pro-1.1`, { headers: { 'x-key': secret }, body: { prompt: 'mine' } });
    const other = await createKey(gateway, { quota_usd: '1' });
    const foreign = await json(submit.body.polling_url, { headers: { 'x-key': other.secret } });
    expect(foreign.body).toEqual({ id: submit.body.id, status: 'Task not found', result: null, progress: null, details: null, preview: null });
  });

  it('POSTs the BFL result object to webhook_url, signed with Standard Webhooks headers keyed by webhook_secret', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const webhookSecret = 'my-bfl-webhook-secret';
    const submit = await json(`${gateway.url}/bfl/v1/flux-dev`, {
      headers: { 'x-key': secret },
      body: { prompt: 'a webhook fox', webhook_url: `${receiver.url}/bfl`, webhook_secret: webhookSecret },
    });
    expect(submit.status).toBe(200);
    const delivery = await eventually(async () => receiver.received.find((entry) => entry.path === '/bfl'), 'the webhook');
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({ id: submit.body.id, status: 'Ready', result: { prompt: 'a webhook fox' } });
    const signed = `${String(delivery.headers['webhook-id'])}.${String(delivery.headers['webhook-timestamp'])}.${delivery.body}`;
    const expected = createHmac('sha256', Buffer.from(webhookSecret)).update(signed).digest('base64');
    expect(String(delivery.headers['webhook-signature'])).toBe(`v1,${expected}`);

    // The secret (as given, and as the whsec_ the gateway keys with) is stored sealed: neither is in the
    // database files, the task views, the admin API or the log.
    const forms = [webhookSecret, Buffer.from(webhookSecret).toString('base64')];
    const files = await Promise.all(['imagegate.sqlite', 'imagegate.sqlite-wal'].map((name) => readFile(join(gateway.dataDir, name)).catch(() => Buffer.alloc(0))));
    expect(files.some((bytes) => bytes.length > 0)).toBe(true);
    const task = await json(`${gateway.url}/v1/images/tasks/${submit.body.id}`, { headers: { authorization: `Bearer ${secret}` } });
    const bflView = await json(submit.body.polling_url, { headers: { 'x-key': secret } });
    const adminView = await admin(gateway, 'GET', `/tasks/${submit.body.id}`);
    expect([task.status, bflView.status, adminView.status]).toEqual([200, 200, 200]);
    const shown = [JSON.stringify(task.body), JSON.stringify(bflView.body), JSON.stringify(adminView.body), log.text()];
    for (const form of forms) {
      expect(files.some((bytes) => bytes.includes(form))).toBe(false);
      expect(shown.filter((text) => text.includes(form))).toEqual([]);
    }
  });
});

describe('BFL dialect on a BFL channel', () => {
  it("passes BFL's own fields to the upstream and re-hosts its sample on the gateway", async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const submit = await json(`${gateway.url}/bfl/v1/flux-kontext-max`, {
      headers: { 'x-key': secret },
      body: { prompt: 'a fjord', aspect_ratio: '16:9', safety_tolerance: 4, prompt_upsampling: true, output_format: 'jpeg' },
    });
    expect(submit.status).toBe(200);
    const result = await pollToEnd(submit.body.polling_url, secret);
    expect(result.status).toBe('Ready');
    const upstream = fake.requests.find((request) => request.method === 'POST' && request.path === '/v1/flux-kontext-max');
    expect(upstream?.json).toMatchObject({ prompt: 'a fjord', aspect_ratio: '16:9', safety_tolerance: 4, prompt_upsampling: true, output_format: 'jpeg' });
    expect(result.result.sample.startsWith(gateway.url)).toBe(true);
    const image = await fetchImage(result.result.sample);
    expect([image.status, image.format]).toEqual([200, 'jpeg']);
  });

  it('reports an input flagged upstream as "Request Moderated" and an output flagged as "Content Moderated", charging nothing', async () => {
    const { id: keyId, secret } = await createKey(gateway, { quota_usd: '1' });
    for (const [stage, status] of [['input', 'Request Moderated'], ['output', 'Content Moderated']] as const) {
      fake.switches.moderation = stage;
      try {
        const submit = await json(`${gateway.url}/bfl/v1/flux-kontext-max`, { headers: { 'x-key': secret }, body: { prompt: 'something flagged' } });
        const result = await pollToEnd(submit.body.polling_url, secret);
        expect(result).toMatchObject({ status, result: null });
        expect(Array.isArray(result.details['Moderation Reasons'])).toBe(true);
      } finally {
        delete fake.switches.moderation;
      }
    }
    // A failed task is recorded, then its reservation released (that order keeps a crash in between from
    // freeing a task that is re-run); so a client can see the failure a moment before the hold is gone.
    const account = await eventually(async () => {
      const current = await gateway.gateway.billing.account(keyId);
      return current.held === 0 ? current : undefined;
    }, 'the reservation released');
    expect(account).toMatchObject({ charged: 0, held: 0, balance: 1_000_000 });
  });
});
