// Asynchronous tasks over real HTTP on the offline engine: submission (query, JSON and multipart),
// the task object and its aliases, ownership, listing, cancel, the queue limit, the synchronous
// time limit handing work over to a task, and retention.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/ports/clock.js';
import { startTestGateway, testApiKey, type TestGateway } from '../../src/testing/gateway-harness.js';
import { call, queryDatabase, waitForTask } from './task-helpers.js';

const otherKey = 'sk-test-other-key-0000000000';
const keys = { IMAGEGATE_API_KEYS: `${testApiKey},${otherKey}` };

async function imageSize(b64: string): Promise<[number | undefined, number | undefined, string | undefined]> {
  const meta = await sharp(Buffer.from(b64, 'base64')).metadata();
  return [meta.width, meta.height, meta.format];
}

describe('async submission and the task object', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({}, { env: keys });
  });
  afterAll(async () => gateway.close());

  it('answers ?async=true with 202, a Location and a task whose result is the synchronous body', async () => {
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', {
      key: testApiKey,
      json: { model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1536x1024', n: 2 },
    });
    expect(submitted.status).toBe(202);
    const task = submitted.body;
    expect(task).toMatchObject({ object: 'image.task', model: 'gpt-image-1', result: null, error: null });
    expect(task.id).toMatch(/^task_/);
    expect(['queued', 'in_progress', 'succeeded']).toContain(task.status);
    expect(submitted.headers.get('location')).toBe(`/v1/images/tasks/${task.id}`);

    const done = await waitForTask(gateway.url, testApiKey, task.id);
    expect(done).toMatchObject({ status: 'succeeded', progress: 100, error: null });
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);
    expect(done.result.data).toHaveLength(2);
    expect(await imageSize(done.result.data[1].b64_json)).toEqual([1536, 1024, 'png']);
    // Exactly the keys a synchronous gpt-image-1 answer has.
    const sync = await call(gateway.url, '/v1/images/generations', { key: testApiKey, json: { model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1536x1024', n: 2 } });
    expect(Object.keys(done.result).sort()).toEqual(Object.keys(sync.body).sort());
    // Quality defaults to auto, reported as the tier the offline engine is billed at (docs/billing.md).
    expect(done.result).toMatchObject({ size: '1536x1024', output_format: 'png', quality: 'medium', background: 'opaque' });

    // The aliases relay clients use serve the same object.
    for (const path of [`/v1/images/generations/${task.id}`, `/v1/tasks/${task.id}`]) {
      const alias = await call(gateway.url, path, { key: testApiKey });
      expect(alias.status).toBe(200);
      expect(alias.body).toEqual(done);
    }
  });

  it('takes "async": true in the JSON body; a url result is signed afresh and nothing but blob keys sit in the database', async () => {
    const submitted = await call(gateway.url, '/v1/images/generations', {
      key: testApiKey,
      json: { model: 'dall-e-2', prompt: 'a red kite', size: '256x256', async: true },
    });
    expect(submitted.status).toBe(202);
    const done = await waitForTask(gateway.url, testApiKey, submitted.body.id);
    expect(done.status).toBe('succeeded');
    const url: string = done.result.data[0].url;
    expect(url.startsWith(`${gateway.url}/v1/files/images/`)).toBe(true);
    const image = await fetch(url);
    expect(image.status).toBe(200);
    const meta = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);

    const [row] = queryDatabase<{ result: string }>(gateway.dataDir, 'SELECT result FROM tasks WHERE id = ?', done.id);
    const stored = JSON.parse(row?.result ?? '{}');
    expect(stored.data[0].blob_key).toMatch(/^images\//);
    expect(row?.result).not.toContain('signature=');
  });

  it('runs a multipart edit with async=true; the input image goes to the blob store, not the database', async () => {
    const source = await sharp({ create: { width: 300, height: 200, channels: 4, background: '#3366ff' } }).png().toBuffer();
    const form = new FormData();
    form.append('model', 'gpt-image-1');
    form.append('prompt', 'add a moon');
    form.append('size', '1024x1024');
    form.append('async', 'true');
    form.append('image[]', new Blob([source], { type: 'image/png' }), 'source.png');
    const submitted = await call(gateway.url, '/v1/images/edits', { key: testApiKey, form });
    expect(submitted.status).toBe(202);
    const done = await waitForTask(gateway.url, testApiKey, submitted.body.id);
    expect(done.status).toBe('succeeded');
    expect(await imageSize(done.result.data[0].b64_json)).toEqual([1024, 1024, 'png']);

    const [row] = queryDatabase<{ request: string; result: string }>(gateway.dataDir, 'SELECT request, result FROM tasks WHERE id = ?', done.id);
    const request = JSON.parse(row?.request ?? '{}');
    expect(request.images).toHaveLength(1);
    expect(request.images[0]).toMatchObject({ media_type: 'image/png', width: 300, height: 200 });
    expect(request.images[0].blob_key).toMatch(new RegExp(`^uploads/.*/${done.id}/`));
    // No image bytes in the row: base64 of even this small image would be kilobytes.
    expect((row?.request.length ?? 0) + (row?.result.length ?? 0)).toBeLessThan(2000);
  });

  it('rejects an invalid async request exactly like a synchronous one, and stream with async', async () => {
    const invalid = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-3', prompt: 'x', size: '512x512' } });
    expect(invalid.status).toBe(400);
    expect(invalid.body.error).toMatchObject({ param: 'size', code: 'invalid_value' });
    const both = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'gpt-image-1', prompt: 'x', stream: true } });
    expect(both.status).toBe(400);
    expect(both.body.error.param).toBe('stream');
    const badFlag = await call(gateway.url, '/v1/images/generations?async=maybe', { key: testApiKey, json: { model: 'gpt-image-1', prompt: 'x' } });
    expect(badFlag.status).toBe(400);
    expect(badFlag.body.error.param).toBe('async');
  });

  it("answers 404 to another key for a task, its aliases and its cancel, and lists only the key's own tasks", async () => {
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-2', prompt: 'mine', size: '256x256' } });
    const id: string = submitted.body.id;
    for (const path of [`/v1/images/tasks/${id}`, `/v1/images/generations/${id}`, `/v1/tasks/${id}`]) {
      const response = await call(gateway.url, path, { key: otherKey });
      expect(response.status).toBe(404);
      expect(response.body.error).toMatchObject({ code: 'not_found', type: 'invalid_request_error' });
    }
    const unknown = await call(gateway.url, '/v1/images/tasks/task_does_not_exist', { key: otherKey });
    expect(unknown.body).toEqual({ error: { ...unknown.body.error, message: "No task found with id 'task_does_not_exist'." } });
    expect((await call(gateway.url, `/v1/images/tasks/${id}/cancel`, { key: otherKey, method: 'POST' })).status).toBe(404);
    const theirs = await call(gateway.url, '/v1/images/tasks', { key: otherKey });
    expect(theirs.body.data.map((task: { id: string }) => task.id)).not.toContain(id);
    expect((await call(gateway.url, `/v1/images/tasks/${id}`)).status).toBe(401);
  });

  it('lists newest first with status, limit and after', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const response = await call(gateway.url, '/v1/images/generations?async=true', { key: otherKey, json: { model: 'dall-e-2', prompt: `list ${index}`, size: '256x256' } });
      ids.push(response.body.id);
      await waitForTask(gateway.url, otherKey, response.body.id);
    }
    const first = await call(gateway.url, '/v1/images/tasks?limit=2', { key: otherKey });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ object: 'list', has_more: true, first_id: ids[2], last_id: ids[1] });
    const second = await call(gateway.url, `/v1/images/tasks?limit=2&after=${first.body.last_id}`, { key: otherKey });
    expect(second.body.data.map((task: { id: string }) => task.id)).toEqual([ids[0]]);
    expect(second.body.has_more).toBe(false);
    expect((await call(gateway.url, '/v1/images/tasks?status=failed', { key: otherKey })).body.data).toEqual([]);
    expect((await call(gateway.url, '/v1/images/tasks?status=succeeded', { key: otherKey })).body.data).toHaveLength(3);
    expect((await call(gateway.url, '/v1/images/tasks?status=done', { key: otherKey })).status).toBe(400);
    expect((await call(gateway.url, '/v1/images/tasks?limit=0', { key: otherKey })).body.error.param).toBe('limit');
  });
});

describe('cancel and the queue limit', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    // One worker and a slow engine: the first task runs while the others wait.
    gateway = await startTestGateway(
      { offlineLatencyMs: 3000, tasks: { workers: 1, leaseMs: 3000, retentionHours: 24, maxQueued: 2, syncTimeoutMs: 60_000 } },
      { env: keys },
    );
  });
  afterAll(async () => gateway.close());

  const submit = (prompt: string) =>
    call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'gpt-image-1', prompt, size: '1024x1024', quality: 'low' } });

  it('cancels a queued and a running task, releases their reservations, and refuses a 4th queued task with 429', async () => {
    const running = (await submit('first')).body.id as string;
    await waitForTask(gateway.url, testApiKey, running, { until: (task) => task.status === 'in_progress' });
    const waiting = (await submit('second')).body.id as string;
    const third = (await submit('third')).body.id as string;

    const refused = await submit('fourth');
    expect(refused.status).toBe(429);
    expect(refused.body.error.code).toBe('rate_limit_exceeded');
    expect(refused.headers.get('retry-after')).not.toBeNull();
    // A refused edit leaves none of its input images behind (a client retrying its 429s would pile them up).
    const form = new FormData();
    form.append('model', 'gpt-image-1');
    form.append('prompt', 'add a moon');
    form.append('async', 'true');
    form.append('image[]', new Blob([await sharp({ create: { width: 64, height: 64, channels: 4, background: '#3366ff' } }).png().toBuffer()], { type: 'image/png' }), 'source.png');
    const refusedEdit = await call(gateway.url, '/v1/images/edits', { key: testApiKey, form });
    expect(refusedEdit.status).toBe(429);
    expect(refusedEdit.body.error.code).toBe('rate_limit_exceeded');
    expect(readdirSync(gateway.dataDir, { recursive: true }).filter((path) => /uploads\/.*\.png$/.test(String(path)))).toEqual([]);

    const canceledWaiting = await call(gateway.url, `/v1/images/tasks/${waiting}/cancel`, { key: testApiKey, method: 'POST' });
    expect(canceledWaiting.status).toBe(200);
    expect(canceledWaiting.body).toMatchObject({ id: waiting, status: 'canceled', result: null });
    const canceledRunning = await call(gateway.url, `/v1/images/tasks/${running}/cancel`, { key: testApiKey, method: 'POST' });
    expect(canceledRunning.body.status).toBe('canceled');
    // Canceling again is harmless and answers the same.
    expect((await call(gateway.url, `/v1/images/tasks/${running}/cancel`, { key: testApiKey, method: 'POST' })).body.status).toBe('canceled');

    // The queue had room again after the cancel; the worker moves on to the third task and finishes it.
    const finished = await waitForTask(gateway.url, testApiKey, third);
    expect(finished.status).toBe('succeeded');
    // The canceled running task was not overwritten by its (abandoned) work.
    expect((await call(gateway.url, `/v1/images/tasks/${running}`, { key: testApiKey })).body.status).toBe('canceled');
    const late = await call(gateway.url, `/v1/images/tasks/${third}/cancel`, { key: testApiKey, method: 'POST' });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('conflict');

    const reservations = queryDatabase<{ id: string; status: string }>(gateway.dataDir, 'SELECT id, status FROM billing_reservations WHERE id IN (?, ?, ?)', running, waiting, third);
    expect(Object.fromEntries(reservations.map((row) => [row.id, row.status]))).toEqual({ [running]: 'released', [waiting]: 'released', [third]: 'settled' });
  });
});

describe('the synchronous time limit', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ offlineLatencyMs: 1200, tasks: { workers: 2, leaseMs: 3000, retentionHours: 24, maxQueued: 10, syncTimeoutMs: 300 } }, { env: keys });
  });
  afterAll(async () => gateway.close());

  it('hands a request that runs past the limit over to a task: 504 with task_id, then the result without a second charge', async () => {
    const response = await call(gateway.url, '/v1/images/generations', { key: testApiKey, json: { model: 'gpt-image-1', prompt: 'slow', size: '1024x1024' } });
    expect(response.status).toBe(504);
    expect(response.headers.get('x-should-retry')).toBe('false');
    const error = response.body.error;
    expect(error).toMatchObject({ code: 'sync_timeout', type: 'server_error' });
    expect(error.task_id).toMatch(/^task_/);
    expect(error.message).toContain(`GET /v1/images/tasks/${error.task_id}`);

    const done = await waitForTask(gateway.url, testApiKey, error.task_id);
    expect(done.status).toBe('succeeded');
    expect(await imageSize(done.result.data[0].b64_json)).toEqual([1024, 1024, 'png']);
    // Reserved under the request id at the start; settled once, by the task.
    const requestId = response.headers.get('x-request-id');
    const rows = queryDatabase<{ status: string }>(gateway.dataDir, 'SELECT status FROM billing_reservations WHERE id = ?', requestId);
    expect(rows).toEqual([{ status: 'settled' }]);
    expect(queryDatabase(gateway.dataDir, 'SELECT reservation_id FROM billing_usage WHERE reservation_id = ?', requestId)).toHaveLength(1);
    expect(queryDatabase(gateway.dataDir, 'SELECT id FROM billing_reservations WHERE id = ?', error.task_id)).toHaveLength(0);
  });

  it('the openai SDK raises the 504 once, without retrying, and exposes task_id', async () => {
    const before = (await call(gateway.url, '/v1/images/tasks?limit=100', { key: otherKey })).body.data.length;
    const sdk = new OpenAI({ apiKey: otherKey, baseURL: `${gateway.url}/v1`, maxRetries: 2 });
    const error = await sdk.images.generate({ model: 'gpt-image-1', prompt: 'slow via sdk' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    const apiError = error as InstanceType<typeof OpenAI.InternalServerError>;
    expect(apiError.status).toBe(504);
    expect((apiError.error as { task_id?: string }).task_id).toMatch(/^task_/);
    const after = (await call(gateway.url, '/v1/images/tasks?limit=100', { key: otherKey })).body.data.length;
    expect(after - before).toBe(1);
  });
});

describe('retention', () => {
  it('deletes finished tasks and their images after the retention period, and keeps recent ones', async () => {
    const clock = manualClock(Date.now());
    const gateway = await startTestGateway({ tasks: { workers: 2, leaseMs: 3000, retentionHours: 1, maxQueued: 10, syncTimeoutMs: 60_000 } }, { env: keys, clock });
    try {
      const old = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-2', prompt: 'old', size: '256x256' } });
      const oldDone = await waitForTask(gateway.url, testApiKey, old.body.id);
      const imageUrl: string = oldDone.result.data[0].url;
      const image = await fetch(imageUrl);
      await image.arrayBuffer();
      expect(image.status).toBe(200);
      const blobKey = new URL(imageUrl).pathname.replace('/v1/files/', '');
      expect(existsSync(join(gateway.dataDir, 'blobs', blobKey))).toBe(true);

      clock.advance(2 * 60 * 60 * 1000);
      const fresh = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-2', prompt: 'fresh', size: '256x256' } });
      await waitForTask(gateway.url, testApiKey, fresh.body.id);

      const report = await gateway.gateway.taskRuntime.sweep();
      expect(report.tasks).toBe(1);
      expect((await call(gateway.url, `/v1/images/tasks/${old.body.id}`, { key: testApiKey })).status).toBe(404);
      expect((await call(gateway.url, `/v1/images/tasks/${fresh.body.id}`, { key: testApiKey })).body.status).toBe('succeeded');
      expect(queryDatabase(gateway.dataDir, 'SELECT id FROM tasks')).toHaveLength(1);
      // The old image is gone from the blob store.
      expect(existsSync(join(gateway.dataDir, 'blobs', blobKey))).toBe(false);
    } finally {
      await gateway.close();
    }
  });
});
