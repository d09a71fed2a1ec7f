// The midjourney-proxy API as a client drives it, emulated on the offline engine: imagine → poll
// fetch to SUCCESS → press U2 from `buttons` via /submit/action → poll → the upscaled image, and V1,
// reroll, the older change forms, list-by-condition, notifyHook callbacks, the codes of refusals,
// billing, and a restart in the middle of a task.

import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { createKey, startBillingGateway } from './billing-support.js';
import { eventually, fetchImage, json, startReceiver, type Receiver } from './dialects-support.js';
import { queryDatabase } from './task-helpers.js';

const webhookSecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

let gateway: TestGateway;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  gateway = await startBillingGateway({ offlineLatencyMs: 200, webhooks: { secret: webhookSecret, maxAttempts: 3, retryBaseMs: 100 } });
});
afterAll(async () => {
  await gateway.close();
  await receiver.close();
});

const mj = (target: TestGateway, secret: string, path: string, body?: unknown, prefix = '/mj') =>
  json(`${target.url}${prefix}${path}`, { headers: { 'mj-api-secret': secret }, ...(body === undefined ? {} : { body }) });

async function fetchToEnd(target: TestGateway, secret: string, id: string): Promise<any> {
  return eventually(async () => {
    const answer = await mj(target, secret, `/task/${id}/fetch`);
    expect(answer.status).toBe(200);
    return ['SUCCESS', 'FAILURE', 'CANCEL'].includes(answer.body.status) ? answer.body : undefined;
  }, `task ${id} to end`);
}

describe('midjourney-proxy API emulated on the offline engine', () => {
  it('imagine → fetch to SUCCESS (a 2×2 grid) → U2 from buttons → the second image itself; list-by-condition returns both', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const submit = await mj(gateway, secret, '/submit/imagine', { prompt: 'a cat in a garden --ar 16:9 --v 6.1', state: 'my-state' });
    expect(submit.status).toBe(200);
    expect(submit.body).toMatchObject({ code: 1, properties: {} });
    const imagineId = submit.body.result as string;

    const imagine = await fetchToEnd(gateway, secret, imagineId);
    expect(imagine).toMatchObject({ id: imagineId, action: 'IMAGINE', status: 'SUCCESS', progress: '100%', prompt: 'a cat in a garden --ar 16:9 --v 6.1', state: 'my-state', failReason: null });
    expect(imagine.finishTime).toBeGreaterThanOrEqual(imagine.submitTime);
    expect(imagine.buttons.map((button: { label: string; emoji: string }) => button.label || button.emoji)).toEqual(['U1', 'U2', 'U3', 'U4', '🔄', 'V1', 'V2', 'V3', 'V4']);
    const grid = await fetchImage(imagine.imageUrl);
    const single = await fetchImage(imagine.imageUrls[1].url);
    expect((single.width ?? 0) / (single.height ?? 1)).toBeCloseTo(16 / 9, 1);
    expect([grid.width, grid.height]).toEqual([(single.width ?? 0) * 2, (single.height ?? 0) * 2]);
    // The grid's top-right quarter is image 2.
    const quarter = await sharp(grid.bytes).extract({ left: single.width ?? 0, top: 0, width: single.width ?? 0, height: single.height ?? 0 }).removeAlpha().raw().toBuffer();
    const second = await sharp(single.bytes).removeAlpha().raw().toBuffer();
    expect(quarter.length).toBe(second.length);
    expect(quarter.equals(second)).toBe(true);

    const u2 = imagine.buttons.find((button: { label: string }) => button.label === 'U2');
    expect(u2.customId).toMatch(/^MJ::JOB::upsample::2::/);
    const action = await mj(gateway, secret, '/submit/action', { taskId: imagineId, customId: u2.customId });
    expect(action.body.code).toBe(1);
    const upscaled = await fetchToEnd(gateway, secret, action.body.result);
    expect(upscaled).toMatchObject({ action: 'UPSCALE', status: 'SUCCESS', customId: u2.customId });
    expect((await fetchImage(upscaled.imageUrl)).bytes.equals(single.bytes)).toBe(true);
    expect(upscaled.buttons.map((button: { label: string }) => button.label)).toContain('Vary (Strong)');

    const listed = await mj(gateway, secret, '/task/list-by-condition', { ids: [imagineId, action.body.result, 'task_unknown'] });
    expect(listed.body.map((task: { id: string }) => task.id).sort()).toEqual([imagineId, action.body.result].sort());
    // The same durable tasks the OpenAI API lists.
    const tasks = await json(`${gateway.url}/v1/images/tasks`, { headers: { authorization: `Bearer ${secret}` } });
    expect(tasks.body.data.map((task: { id: string }) => task.id)).toEqual(expect.arrayContaining([imagineId, action.body.result]));
  });

  it('V1 (an edit of image 1) on /mj-fast/mj, reroll, and the older change and simple-change forms', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const imagineId = (await mj(gateway, secret, '/submit/imagine', { prompt: 'a lighthouse --seed 77' })).body.result as string;
    const imagine = await fetchToEnd(gateway, secret, imagineId);
    expect((await mj(gateway, secret, `/task/${imagineId}/image-seed`)).body).toMatchObject({ code: 1, result: '77' });

    const v1 = imagine.buttons.find((button: { label: string }) => button.label === 'V1');
    const variation = await mj(gateway, secret, '/submit/action', { taskId: imagineId, customId: v1.customId }, '/mj-fast/mj');
    const varied = await fetchToEnd(gateway, secret, variation.body.result);
    expect(varied).toMatchObject({ action: 'VARIATION', status: 'SUCCESS' });
    expect(varied.imageUrls).toHaveLength(4);
    const task = await json(`${gateway.url}/v1/images/tasks/${variation.body.result}`, { headers: { authorization: `Bearer ${secret}` } });
    expect(task.body.model).toBe('flux-kontext-pro');

    const reroll = await mj(gateway, secret, '/submit/simple-change', { content: `${imagineId} R` });
    expect((await fetchToEnd(gateway, secret, reroll.body.result)).action).toBe('REROLL');
    const change = await mj(gateway, secret, '/submit/change', { action: 'UPSCALE', index: 4, taskId: imagineId });
    const fourth = await fetchToEnd(gateway, secret, change.body.result);
    expect((await fetchImage(fourth.imageUrl)).bytes.equals((await fetchImage(imagine.imageUrls[3].url)).bytes)).toBe(true);
    const simple = await mj(gateway, secret, '/submit/simple-change', { content: `${imagineId} U3` });
    expect((await fetchToEnd(gateway, secret, simple.body.result)).action).toBe('UPSCALE');
  });

  it("answers refusals with midjourney-proxy's codes, HTTP 200; auth by Bearer and bare sk- as well", async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    expect((await mj(gateway, secret, '/submit/imagine', { prompt: '' })).body).toMatchObject({ code: 4, result: null });
    expect((await mj(gateway, secret, '/submit/imagine', { prompt: 'x --ar 7:5' })).body.code).toBe(4);
    const missing = await mj(gateway, secret, '/submit/action', { taskId: 'task_nope', customId: 'MJ::JOB::upsample::1::nope' });
    expect([missing.status, missing.body.code]).toEqual([200, 3]);
    // What midjourney-proxy answers for an action it does not support: code 4, "不支持的操作: <ACTION>", HTTP 200.
    const unsupported = { '/submit/describe': 'DESCRIBE', '/submit/shorten': 'SHORTEN', '/submit/modal': 'MODAL', '/submit/upload-discord-images': 'UPLOAD', '/insight-face/swap': 'SWAP_FACE' };
    for (const [path, action] of Object.entries(unsupported)) {
      const refused = await mj(gateway, secret, path, { base64: 'data:image/png;base64,AAAA', prompt: 'a long prompt', taskId: 'task_x' });
      expect([path, refused.status, refused.body.code, refused.body.result]).toEqual([path, 200, 4, null]);
      expect(refused.body.description).toMatch(new RegExp(`^不支持的操作: ${action}\\. ${path} is not offered by this gateway: .+`));
    }
    const fetched = await mj(gateway, secret, '/task/task_nope/fetch');
    expect([fetched.status, fetched.body.code]).toEqual([404, 3]);

    const imagineId = (await json(`${gateway.url}/mj/submit/imagine`, { headers: { authorization: `Bearer ${secret}` }, body: { prompt: 'a bird' } })).body.result;
    const done = await fetchToEnd(gateway, secret, imagineId);
    // A button of another task is refused.
    const foreign = await mj(gateway, secret, '/submit/action', { taskId: imagineId, customId: 'MJ::JOB::upsample::1::0123456789abcdef' });
    expect(foreign.body.code).toBe(4);
    // Pressing U on an upscaled image is refused.
    const up = await mj(gateway, secret, '/submit/action', { taskId: imagineId, customId: done.buttons[0].customId });
    await fetchToEnd(gateway, secret, up.body.result);
    expect((await mj(gateway, secret, '/submit/change', { action: 'UPSCALE', index: 1, taskId: up.body.result })).body.code).toBe(4);

    const bare = await json(`${gateway.url}/mj/task/${imagineId}/fetch`, { headers: { authorization: secret } });
    expect(bare.body.status).toBe('SUCCESS');
    const other = await createKey(gateway, { quota_usd: '1' });
    expect((await mj(gateway, other.secret, `/task/${imagineId}/fetch`)).status).toBe(404);
    const none = await json(`${gateway.url}/mj/submit/imagine`, { body: { prompt: 'x' } });
    expect(none.status).toBe(401);
  });

  it('POSTs the finished task to notifyHook, signed with the gateway webhook headers; imagine and upscale are charged their action prices', async () => {
    const { id: keyId, secret } = await createKey(gateway, { quota_usd: '1' });
    const submit = await mj(gateway, secret, '/submit/imagine', { prompt: 'a hooked heron', notifyHook: `${receiver.url}/mj` });
    const delivery = await eventually(async () => receiver.received.find((entry) => entry.path === '/mj'), 'the notifyHook call');
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({ id: submit.body.result, action: 'IMAGINE', status: 'SUCCESS' });
    const signed = `${String(delivery.headers['webhook-id'])}.${String(delivery.headers['webhook-timestamp'])}.${delivery.body}`;
    const key = Buffer.from(webhookSecret.replace(/^whsec_/, ''), 'base64');
    expect(String(delivery.headers['webhook-signature'])).toBe(`v1,${createHmac('sha256', key).update(signed).digest('base64')}`);

    // Priced per action from the price book (mj_imagine $0.10, mj_upscale $0.05), reserved at submit and settled once.
    const usageOf = () => queryDatabase<{ model: string; amount: number }>(gateway.dataDir, 'SELECT model, amount FROM billing_usage WHERE key_id = ? ORDER BY created_at', keyId);
    expect(usageOf()).toEqual([{ model: 'mj_imagine', amount: 100_000 }]);
    const u1 = await mj(gateway, secret, '/submit/action', { taskId: submit.body.result, customId: body.buttons[0].customId });
    await fetchToEnd(gateway, secret, u1.body.result);
    expect(usageOf()).toEqual([{ model: 'mj_imagine', amount: 100_000 }, { model: 'mj_upscale', amount: 50_000 }]);
    expect(await gateway.gateway.billing.account(keyId)).toMatchObject({ charged: 150_000, held: 0 });
  });
});

describe('a restart in the middle of a Midjourney task', () => {
  it('finishes the task after the gateway comes back, charged once', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'imagegate-mj-restart-'));
    try {
      let target = await startTestGateway({ dataDir, offlineLatencyMs: 1500 });
      const submit = await mj(target, target.apiKey, '/submit/imagine', { prompt: 'across a restart' });
      await eventually(async () => ((await mj(target, target.apiKey, `/task/${submit.body.result}/fetch`)).body.status === 'IN_PROGRESS' ? true : undefined), 'the task to start');
      await target.close();
      target = await startTestGateway({ dataDir, offlineLatencyMs: 10 });
      const done = await fetchToEnd(target, target.apiKey, submit.body.result);
      expect(done.status).toBe('SUCCESS');
      expect(done.imageUrls).toHaveLength(4);
      const reservations = queryDatabase<{ status: string }>(dataDir, 'SELECT status FROM billing_reservations WHERE id = ?', submit.body.result);
      expect(reservations.map((row) => row.status)).toEqual(['settled']);
      expect(queryDatabase<{ n: number }>(dataDir, 'SELECT COUNT(*) AS n FROM billing_usage WHERE reservation_id = ?', submit.body.result)[0]?.n).toBe(1);
      await target.close();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
