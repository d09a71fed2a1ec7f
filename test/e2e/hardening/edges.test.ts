// Issue 9, item 29: two edges no test pinned down. Every lease the gateway keeps (task claims,
// webhook deliveries, Idempotency-Key locks) is held while now < expiry and may be taken over from
// the expiry instant on (`<=` in every store); and a Retry-After the gateway sends is a whole number
// of seconds, at least 1, rounded up — a sub-second upstream wait (OpenAI's `retry-after-ms`) included.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { systemClock } from '../../../src/core/ports/clock.js';
import { openSqliteStorage } from '../../../src/storage/sqlite/sqlite-storage.js';
import type { DatabaseStores } from '../../../src/storage/storage.js';
import { sendJson, startFakeServer, type FakeServer } from '../../../src/testing/fakes/shared.js';
import { makeTask } from '../../../src/testing/conformance/task-store.conformance.js';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { generate } from '../images-api-helpers.js';

describe('a lease taken over exactly at its expiry instant', () => {
  let folder: string;
  let stores: DatabaseStores;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'imagegate-lease-edge-'));
    stores = await openSqliteStorage({ file: join(folder, 'edge.sqlite'), clock: systemClock, logger: pino({ level: 'silent' }) });
  });
  afterAll(async () => {
    await stores.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('task claims, webhook deliveries and Idempotency-Key locks all change hands at expiry, not a millisecond before', async () => {
    const expiry = 1_700_000_060_000;
    const tasks = stores.tasks;
    await tasks.create(makeTask('edge'));
    await tasks.claim('first', expiry - 30_000, expiry);
    expect(await tasks.claim('second', expiry - 1, expiry + 30_000)).toBeUndefined();
    expect((await tasks.claim('second', expiry, expiry + 30_000))?.leaseOwner).toBe('second');

    const webhooks = stores.webhooks;
    await webhooks.register({ id: 'msg_edge', taskId: 'task_edge', url: 'https://receiver.example/hook', secret: null, publicBase: 'https://img.example', createdAt: expiry - 60_000 });
    await webhooks.activate('task_edge', expiry - 60_000);
    expect((await webhooks.claimDue('first', expiry - 30_000, expiry))?.id).toBe('msg_edge');
    expect(await webhooks.claimDue('second', expiry - 1, expiry + 30_000)).toBeUndefined();
    expect((await webhooks.claimDue('second', expiry, expiry + 30_000))?.id).toBe('msg_edge');

    const idempotency = stores.idempotency;
    const record = { keyId: 'key_a', idempotencyKey: 'edge', requestHash: 'h', owner: 'first', lockedUntil: expiry, createdAt: expiry - 30_000, expiresAt: expiry + 86_400_000 };
    expect(await idempotency.insertRunning(record)).toBe(true);
    expect(await idempotency.takeOver('key_a', 'edge', 'second', expiry - 1, expiry + 30_000)).toBe(false);
    expect(await idempotency.takeOver('key_a', 'edge', 'second', expiry, expiry + 30_000)).toBe(true);
  });
});

describe('Retry-After for sub-second waits', () => {
  let upstream: FakeServer;
  let gateway: TestGateway;
  let wait = '250';
  beforeAll(async () => {
    // OpenAI states its waits in milliseconds too (`retry-after-ms`, read by openai-node's retry logic).
    upstream = await startFakeServer((_request, response) =>
      sendJson(response, 429, { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } }, { 'retry-after-ms': wait }),
    );
    gateway = await startTestGateway({
      routing: { maxAttempts: 1, breakerFailureThreshold: 100, breakerCooldownMs: 1000 },
      channels: [{ name: 'busy', provider: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-busy-0123456789abcdef', models: ['gpt-image-1'] }],
    });
  });
  afterAll(async () => {
    await gateway.close();
    await upstream.close();
  });

  it.each([
    ['250', '1'],
    ['1', '1'],
    ['1200', '2'],
  ])('an upstream wait of %s ms answers Retry-After: %s', async (milliseconds, expected) => {
    wait = milliseconds;
    const response = await generate(gateway, { model: 'gpt-image-1', prompt: 'x' });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe(expected);
  });
});
