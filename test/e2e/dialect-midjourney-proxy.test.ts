// The /mj dialect passed through to an upstream midjourney-proxy (its fake): a client's whole flow —
// imagine → fetch to SUCCESS (the upstream's grid, re-hosted) → U2 from the upstream's `buttons` via
// /submit/action → the upscaled image; list-by-condition; code 24 when the upstream bans the prompt
// (and content_policy_violation on the OpenAI API); one batched upstream poll for several tasks; and a
// gateway killed with SIGKILL mid-task: nothing lost, nothing submitted twice, one charge.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startMidjourneyProxyFake, type MjFake } from '../../src/testing/fakes/midjourney-proxy.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { apiKey } from './child-gateway.js';
import { eventually, fetchImage, json } from './dialects-support.js';
import { withGatewayKilledMidJobs } from './mid-job-restart.js';
import { call, queryDatabase } from './task-helpers.js';

const upstreamSecret = 'mj-upstream-secret-0123456789';
const midjourneyModel = {
  id: 'midjourney',
  owned_by: 'midjourney',
  operations: ['generate', 'edit'],
  prompt_max_length: 8192,
  max_n: 1,
  sizes: { rule: { multiple_of: 8, min_edge: 256, max_edge: 4096 }, default: '1024x1024' },
  backgrounds: ['opaque', 'auto'],
  output_formats: ['png'],
  default_output_format: 'png',
  default_response_format: 'url',
  edit: { max_images: 5, max_image_bytes: 10485760, formats: ['png', 'jpeg', 'webp'] },
};

let fake: MjFake;
let gateway: TestGateway;

beforeAll(async () => {
  fake = await startMidjourneyProxyFake({ apiSecret: upstreamSecret });
  const channel: ChannelConfig = { name: 'mj-upstream', provider: 'midjourney-proxy', base_url: fake.url, api_key: upstreamSecret, models: ['midjourney'], poll_interval_ms: 30 };
  // The relax mode's model on a channel that gives up on a task after 300 ms.
  const impatient: ChannelConfig = { ...channel, name: 'mj-impatient', models: ['midjourney-relax'], options: { stuck_timeout_ms: 300 } };
  gateway = await startTestGateway({ channels: [channel, impatient], catalog: { models: [midjourneyModel, { ...midjourneyModel, id: 'midjourney-relax' }] } });
});
afterAll(async () => {
  await gateway.close();
  await fake.close();
});
beforeEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

const mj = (target: string, secret: string, path: string, body?: unknown) => json(`${target}/mj${path}`, { headers: { 'mj-api-secret': secret }, ...(body === undefined ? {} : { body }) });

async function fetchToEnd(target: string, secret: string, id: string): Promise<any> {
  return eventually(async () => {
    const answer = await mj(target, secret, `/task/${id}/fetch`);
    expect(answer.status).toBe(200);
    return ['SUCCESS', 'FAILURE', 'CANCEL'].includes(answer.body.status) ? answer.body : undefined;
  }, `task ${id} to end`, 30_000);
}

describe('/mj passed through to an upstream midjourney-proxy', () => {
  it('imagine → SUCCESS with the upstream grid re-hosted → U2 from buttons → the upscaled image; list-by-condition returns both', async () => {
    fake.switches.pollsBeforeReady = 2;
    const submit = await mj(gateway.url, gateway.apiKey, '/submit/imagine', { prompt: 'a cat in a garden --ar 16:9 --v 6.1', state: 's1' });
    expect(submit.body).toMatchObject({ code: 1 });
    const imagineId = submit.body.result as string;
    const imagine = await fetchToEnd(gateway.url, gateway.apiKey, imagineId);
    expect(imagine).toMatchObject({ id: imagineId, action: 'IMAGINE', status: 'SUCCESS', progress: '100%', state: 's1', prompt: 'a cat in a garden --ar 16:9 --v 6.1' });
    // The upstream received the prompt verbatim, with the channel's secret.
    const sent = fake.requests.filter((request) => request.path === '/mj/submit/imagine');
    expect(sent.map((request) => request.json)).toEqual([{ prompt: 'a cat in a garden --ar 16:9 --v 6.1' }]);
    expect(sent[0]?.headers['mj-api-secret']).toBe(upstreamSecret);
    const upstreamImagine = [...fake.tasks.values()].find((task) => task.action === 'IMAGINE');
    // The grid is served by the gateway, not the upstream's (expiring) link.
    expect(imagine.imageUrl.startsWith(gateway.url)).toBe(true);
    const grid = await fetchImage(imagine.imageUrl);
    expect([grid.width, grid.height]).toEqual([512, 288]);
    expect(imagine.buttons.map((button: { label: string; emoji: string }) => button.label || button.emoji)).toEqual(['U1', 'U2', 'U3', 'U4', '🔄', 'V1', 'V2', 'V3', 'V4']);
    const u2 = imagine.buttons.find((button: { label: string }) => button.label === 'U2');
    expect(u2.customId).toBe(`MJ::JOB::upsample::2::${upstreamImagine?.hash}`);

    const action = await mj(gateway.url, gateway.apiKey, '/submit/action', { taskId: imagineId, customId: u2.customId });
    expect(action.body.code).toBe(1);
    const upscaled = await fetchToEnd(gateway.url, gateway.apiKey, action.body.result);
    expect(upscaled).toMatchObject({ action: 'UPSCALE', status: 'SUCCESS', customId: u2.customId });
    expect(fake.requests.find((request) => request.path === '/mj/submit/action')?.json).toEqual({ customId: u2.customId, taskId: upstreamImagine?.id });
    const image = await fetchImage(upscaled.imageUrl);
    expect([image.status, image.width, image.height]).toEqual([200, 512, 288]);
    expect(upscaled.buttons.map((button: { label: string }) => button.label)).toContain('Vary (Strong)');

    const listed = await mj(gateway.url, gateway.apiKey, '/task/list-by-condition', { ids: [imagineId, action.body.result] });
    expect(listed.body.map((task: { id: string }) => task.id).sort()).toEqual([imagineId, action.body.result].sort());
    // The older form names the button by kind and index: the upstream's U3 is pressed.
    const change = await mj(gateway.url, gateway.apiKey, '/submit/simple-change', { content: `${imagineId} U3` });
    expect(change.body.code).toBe(1);
    expect(fake.requests.filter((request) => request.path === '/mj/submit/action').at(-1)?.json).toMatchObject({ customId: `MJ::JOB::upsample::3::${upstreamImagine?.hash}` });
    await fetchToEnd(gateway.url, gateway.apiKey, change.body.result);
  });

  it('answers code 24 when the upstream bans the prompt; the OpenAI API answers content_policy_violation', async () => {
    const banned = await mj(gateway.url, gateway.apiKey, '/submit/imagine', { prompt: 'a nude statue' });
    expect(banned.status).toBe(200);
    expect(banned.body).toMatchObject({ code: 24, result: null });
    const openai = await call(gateway.url, '/v1/images/generations', { key: gateway.apiKey, json: { model: 'midjourney', prompt: 'a nude statue' } });
    expect(openai.status).toBe(400);
    expect(openai.body.error.code).toBe('content_policy_violation');
    fake.switches.queueFull = true;
    expect((await mj(gateway.url, gateway.apiKey, '/submit/imagine', { prompt: 'a calm lake' })).body.code).toBe(23);
  });

  it('polls several tasks in flight with one list-by-condition call', async () => {
    fake.switches.pollsBeforeReady = 3;
    fake.switches.latencyMs = 20;
    const before = fake.listCalls.length;
    const submitted = await Promise.all([1, 2, 3].map((index) => mj(gateway.url, gateway.apiKey, '/submit/imagine', { prompt: `a boat ${index}` })));
    const ids = submitted.map((answer) => answer.body.result as string);
    const done = await Promise.all(ids.map((id) => fetchToEnd(gateway.url, gateway.apiKey, id)));
    expect(done.map((task) => task.status)).toEqual(['SUCCESS', 'SUCCESS', 'SUCCESS']);
    expect(fake.listCalls.slice(before).some((asked) => asked.length === 3)).toBe(true);
  });
});

describe('a midjourney-proxy task stuck upstream', () => {
  it('fails after the channel\'s stuck_timeout_ms and is not charged', async () => {
    fake.switches.hang = true;
    const submit = await json(`${gateway.url}/mj-relax/mj/submit/imagine`, { headers: { 'mj-api-secret': gateway.apiKey }, body: { prompt: 'a stuck render' } });
    expect(submit.body.code).toBe(1);
    const done = await fetchToEnd(gateway.url, gateway.apiKey, submit.body.result);
    expect(done.status).toBe('FAILURE');
    expect(done.failReason).toContain('did not finish');
    const reservations = queryDatabase<{ status: string }>(gateway.dataDir, 'SELECT status FROM billing_reservations WHERE id = ?', submit.body.result);
    expect(reservations.map((row) => row.status)).toEqual(['released']);
    expect(queryDatabase<{ n: number }>(gateway.dataDir, 'SELECT COUNT(*) AS n FROM billing_usage WHERE reservation_id = ?', submit.body.result)[0]?.n).toBe(0);
  });
});

describe('a gateway killed while a midjourney-proxy task runs', () => {
  it('polls the recorded upstream task after a restart: SUCCESS, submitted once, charged once', { timeout: 90_000 }, async () => {
    const slow = await startMidjourneyProxyFake({ switches: { pollsBeforeReady: 1_000_000 } });
    try {
      const config = {
        catalog: { models: [midjourneyModel] },
        channels: [{ name: 'mj', provider: 'midjourney-proxy', base_url: slow.url, models: ['midjourney'], poll_interval_ms: 50 }],
        tasks: { lease_ms: 1500 },
      };
      await withGatewayKilledMidJobs('imagegate-mj-proxy-restart-', config, async (rig) => {
        const submit = await mj(rig.child.url, apiKey, '/submit/imagine', { prompt: 'across a restart' });
        expect(submit.body.code).toBe(1);
        const id = submit.body.result as string;
        // Killed once the upstream task is recorded and being polled.
        await rig.waitForRecordedJobs(1, () => slow.listCalls.length > 0);
        await rig.killAndRestart(() => {
          slow.switches.pollsBeforeReady = 1;
        });
        const done = await fetchToEnd(rig.child.url, apiKey, id);
        expect(done.status).toBe('SUCCESS');
        expect((await fetchImage(done.imageUrl)).status).toBe(200);
        expect(slow.submissions).toBe(1);
        const reservations = queryDatabase<{ status: string }>(rig.dataDir, 'SELECT status FROM billing_reservations WHERE id = ?', id);
        expect(reservations.map((row) => row.status)).toEqual(['settled']);
        expect(queryDatabase<{ n: number }>(rig.dataDir, 'SELECT COUNT(*) AS n FROM billing_usage WHERE reservation_id = ?', id)[0]?.n).toBe(1);
      });
    } finally {
      await slow.close();
    }
  });
});
