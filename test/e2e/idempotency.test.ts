// Idempotency-Key over real HTTP: concurrent duplicates make one upstream call, replays return the
// same answer without a second charge, another body is a 409, keys are per API key, and two
// processes sharing a data dir agree through the database.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/schema.js';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { startTestGateway, testApiKey, type TestGateway } from '../../src/testing/gateway-harness.js';
import { call, queryDatabase, waitForTask } from './task-helpers.js';

const otherKey = 'sk-test-other-key-0000000000';
const keys = { IMAGEGATE_API_KEYS: `${testApiKey},${otherKey}` };
const tasks: AppConfig['tasks'] = { workers: 4, leaseMs: 3000, retentionHours: 24, maxQueued: 100, syncTimeoutMs: 60_000 };

let fake: BflFake;
let gateway: TestGateway;

const channels = (url: string): AppConfig['channels'] => [
  { name: 'bfl', provider: 'bfl', base_url: url, api_key: bflFakeApiKey, models: ['flux-1.1-pro'], poll_interval_ms: 10 },
];

beforeAll(async () => {
  fake = await startBflFake({ switches: { pollsBeforeReady: 5 } });
  gateway = await startTestGateway({ channels: channels(fake.url), tasks }, { env: keys });
});
afterAll(async () => {
  await gateway.close();
  await fake.close();
});

const generate = (body: Record<string, unknown>, idempotencyKey: string, options: { key?: string; query?: string; target?: TestGateway } = {}) =>
  call((options.target ?? gateway).url, `/v1/images/generations${options.query ?? ''}`, {
    key: options.key ?? testApiKey,
    json: body,
    headers: { 'idempotency-key': idempotencyKey },
  });

const reservationCount = (): number => queryDatabase<{ n: number }>(gateway.dataDir, 'SELECT COUNT(*) AS n FROM billing_reservations')[0]?.n ?? 0;
const usageCount = (): number => queryDatabase<{ n: number }>(gateway.dataDir, 'SELECT COUNT(*) AS n FROM billing_usage')[0]?.n ?? 0;

describe('Idempotency-Key', () => {
  it('makes one upstream call and one charge for 20 concurrent identical requests, all answered alike', async () => {
    const submissions = fake.submissions;
    const reservations = reservationCount();
    const usage = usageCount();
    const body = { model: 'flux-1.1-pro', prompt: 'twenty at once', response_format: 'b64_json' };
    const responses = await Promise.all(Array.from({ length: 20 }, () => generate(body, 'race-b64')));
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(200));
    expect(fake.submissions - submissions).toBe(1);
    const first = JSON.stringify(responses[0]?.body);
    expect(responses[0]?.body.data[0].b64_json.length).toBeGreaterThan(1000);
    for (const response of responses) expect(JSON.stringify(response.body)).toBe(first);
    expect(responses.filter((response) => response.headers.get('idempotent-replayed') === 'true')).toHaveLength(19);
    expect(reservationCount() - reservations).toBe(1);
    expect(usageCount() - usage).toBe(1);
    // The stored response keeps blob keys, never the base64.
    const [row] = queryDatabase<{ response: string }>(gateway.dataDir, "SELECT response FROM idempotency_keys WHERE idempotency_key = 'race-b64'");
    expect(row?.response).toContain('blob_key');
    expect(row?.response.length).toBeLessThan(2000);
  });

  it('replays a url response byte for byte later, and answers 409 to the same key with another body', async () => {
    const submissions = fake.submissions;
    const body = { model: 'flux-1.1-pro', prompt: 'replay me', response_format: 'url' };
    const first = await generate(body, 'replay-url');
    expect(first.status).toBe(200);
    const again = await generate(body, 'replay-url');
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(again.headers.get('x-imagegate-provider')).toBe('bfl');
    expect(fake.submissions - submissions).toBe(1);

    const conflict = await generate({ ...body, prompt: 'something else' }, 'replay-url');
    expect(conflict.status).toBe(409);
    expect(conflict.body.error).toMatchObject({ code: 'conflict', type: 'invalid_request_error', param: 'Idempotency-Key' });
    expect(fake.submissions - submissions).toBe(1);
  });

  it('scopes keys per API key', async () => {
    const submissions = fake.submissions;
    const body = { model: 'flux-1.1-pro', prompt: 'per key', response_format: 'url' };
    expect((await generate(body, 'shared-name')).status).toBe(200);
    const theirs = await generate({ ...body, prompt: 'their own request' }, 'shared-name', { key: otherKey });
    expect(theirs.status).toBe(200);
    expect(theirs.headers.get('idempotent-replayed')).toBeNull();
    expect(fake.submissions - submissions).toBe(2);
  });

  it('does not keep a rejected request: the corrected body runs under the same key', async () => {
    const invalid = await generate({ model: 'flux-1.1-pro', prompt: 'x', size: 'huge' }, 'fix-me');
    expect(invalid.status).toBe(400);
    const fixed = await generate({ model: 'flux-1.1-pro', prompt: 'x', response_format: 'url' }, 'fix-me');
    expect(fixed.status).toBe(200);
    expect(fixed.headers.get('idempotent-replayed')).toBeNull();
  });

  it('creates one task for 20 concurrent identical async submissions', async () => {
    const submissions = fake.submissions;
    const responses = await Promise.all(Array.from({ length: 20 }, () => generate({ model: 'flux-1.1-pro', prompt: 'one task' }, 'race-async', { query: '?async=true' })));
    expect(responses.map((response) => response.status)).toEqual(Array(20).fill(202));
    const ids = new Set(responses.map((response) => response.body.id));
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    expect(responses.every((response) => response.headers.get('location') === `/v1/images/tasks/${id}`)).toBe(true);
    await waitForTask(gateway.url, testApiKey, id);
    expect(fake.submissions - submissions).toBe(1);
    // A replay after the end shows the task as it is now.
    const later = await generate({ model: 'flux-1.1-pro', prompt: 'one task' }, 'race-async', { query: '?async=true' });
    expect(later.status).toBe(202);
    expect(later.body).toMatchObject({ id, status: 'succeeded' });
  });

  it('agrees across two processes sharing the data dir: one upstream call', async () => {
    const second = await startTestGateway({ dataDir: gateway.dataDir, channels: channels(fake.url), tasks }, { env: keys });
    try {
      const submissions = fake.submissions;
      const body = { model: 'flux-1.1-pro', prompt: 'two processes', response_format: 'url' };
      const responses = await Promise.all(Array.from({ length: 10 }, (_, index) => generate(body, 'cross-process', { target: index % 2 === 0 ? gateway : second })));
      expect(responses.map((response) => response.status)).toEqual(Array(10).fill(200));
      expect(fake.submissions - submissions).toBe(1);
      for (const response of responses) expect(response.body).toEqual(responses[0]?.body);
    } finally {
      await second.close();
    }
  });

  it('replays a final upstream failure, but runs again after a transient one', async () => {
    const submitsOf = () => fake.requests.filter((request) => request.method === 'POST').length;
    fake.switches.taskError = 'the prompt broke the model';
    try {
      const before = fake.submissions;
      const failed = await generate({ model: 'flux-1.1-pro', prompt: 'fails for good' }, 'final-failure');
      expect(failed.status).toBe(502);
      expect(failed.body.error.message).toContain('the prompt broke the model');
      const replay = await generate({ model: 'flux-1.1-pro', prompt: 'fails for good' }, 'final-failure');
      expect(replay.status).toBe(502);
      expect(replay.body).toEqual(failed.body);
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(fake.submissions - before).toBe(1);
    } finally {
      delete fake.switches.taskError;
    }

    fake.switches.failStatus = 503;
    const transient = await generate({ model: 'flux-1.1-pro', prompt: 'try again', response_format: 'url' }, 'transient-failure');
    delete fake.switches.failStatus;
    expect(transient.status).toBe(502);
    const attempts = submitsOf();
    const retried = await generate({ model: 'flux-1.1-pro', prompt: 'try again', response_format: 'url' }, 'transient-failure');
    expect(retried.status).toBe(200);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(submitsOf() - attempts).toBe(1);
  });

  it('rejects a malformed key', async () => {
    const response = await generate({ model: 'flux-1.1-pro', prompt: 'x' }, 'has space');
    expect(response.status).toBe(400);
    expect(response.body.error.param).toBe('Idempotency-Key');
  });
});

describe('Idempotency-Key with the synchronous time limit', () => {
  it('replays the hand-over while the task runs, then its result', async () => {
    const slow = await startTestGateway({ offlineLatencyMs: 1000, tasks: { ...tasks, syncTimeoutMs: 200 } }, { env: keys });
    try {
      const body = { model: 'gpt-image-1', prompt: 'slow and idempotent', size: '1024x1024', quality: 'low' };
      const send = () => call(slow.url, '/v1/images/generations', { key: testApiKey, json: body, headers: { 'idempotency-key': 'slow-one' } });
      const first = await send();
      expect(first.status).toBe(504);
      const taskId: string = first.body.error.task_id;
      const whileRunning = await send();
      expect(whileRunning.status).toBe(504);
      expect(whileRunning.body.error.task_id).toBe(taskId);
      const done = await waitForTask(slow.url, testApiKey, taskId);
      const after = await send();
      expect(after.status).toBe(200);
      expect(after.body).toEqual(done.result);
      expect(queryDatabase(slow.dataDir, 'SELECT reservation_id FROM billing_usage')).toHaveLength(1);
      expect(queryDatabase(slow.dataDir, 'SELECT id FROM tasks')).toHaveLength(1);
    } finally {
      await slow.close();
    }
  });
});
