// SlotPool in memory and in Redis: limits with several permits, releases, and — Redis only — the
// slots of a holder that stopped renewing (a replica killed with SIGKILL) coming back after the lease.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SlotPool } from '../core/ports/slot-pool.js';
import { connectRedis, type RedisConnection } from '../shared-state/redis-client.js';
import { deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../testing/redis.js';
import { createMemorySlotPool } from './memory-slot-pool.js';
import { createRedisSlotPool } from './redis-slot-pool.js';

const prefix = uniqueRedisPrefix('slots');
let connections: RedisConnection[] = [];
beforeAll(async () => {
  connections = await Promise.all([connectRedis(testRedisUrl, prefix), connectRedis(testRedisUrl, prefix)]);
});
afterAll(async () => {
  await Promise.all(connections.map((connection) => connection.close()));
  await deleteRedisPrefix(prefix);
});

const redisConnection = (index: number): RedisConnection => {
  const connection = connections[index];
  if (connection === undefined) throw new Error('not connected');
  return connection;
};

for (const [name, pools] of [
  ['memory', () => { const pool = createMemorySlotPool(); return [pool, pool] as const; }],
  ['redis', () => [createRedisSlotPool({ client: redisConnection(0).client, prefix }), createRedisSlotPool({ client: redisConnection(1).client, prefix })] as const],
] as const) {
  describe(`SlotPool: ${name}`, () => {
    it('grants permits up to the limit, across holders, and takes them back on release', async () => {
      const [first, second]: readonly [SlotPool, SlotPool] = pools();
      const pool = `channel:${name}-${Date.now()}`;
      const big = await first.tryAcquire(pool, 4, 3);
      expect(big).toBeDefined();
      expect(await second.tryAcquire(pool, 4, 2)).toBeUndefined();
      const small = await second.tryAcquire(pool, 4, 1);
      expect(small).toBeDefined();
      expect(await first.held(pool)).toBe(4);
      big?.release();
      big?.release();
      for (let tries = 0; tries < 100 && (await second.held(pool)) !== 1; tries += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await second.held(pool)).toBe(1);
      expect(await first.tryAcquire(pool, 4, 3)).toBeDefined();
    });
  });
}

describe('SlotPool: redis leases', () => {
  it('frees the slots of a holder that stopped renewing once its lease ran out, and keeps a renewed one', async () => {
    const crashed = createRedisSlotPool({ client: redisConnection(0).client, prefix, leaseMs: 400 });
    const alive = createRedisSlotPool({ client: redisConnection(1).client, prefix, leaseMs: 400 });
    const pool = `key:lease-${Date.now()}`;
    const kept = await alive.tryAcquire(pool, 2, 1);
    expect(await crashed.tryAcquire(pool, 2, 1)).toBeDefined();
    crashed.abandon();
    expect(await alive.tryAcquire(pool, 2, 1)).toBeUndefined();
    // Wait for the event (the slot coming back), with a deadline; several lease times pass meanwhile,
    // so the living holder's renewals are what keep its own slot.
    let regained;
    const deadline = Date.now() + 10_000;
    while (regained === undefined && Date.now() < deadline) {
      regained = await alive.tryAcquire(pool, 2, 1);
      if (regained === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(regained).toBeDefined();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(await alive.held(pool)).toBe(2);
    expect(await alive.tryAcquire(pool, 2, 1)).toBeUndefined();
    kept?.release();
    regained?.release();
  });

  it('falls back to its own slots while Redis cannot be reached', async () => {
    const broken = await connectRedis(testRedisUrl, prefix);
    const errors: unknown[] = [];
    const pool = createRedisSlotPool({ client: broken.client, prefix, fallback: createMemorySlotPool(), onError: (error) => errors.push(error) });
    broken.client.disconnect();
    const lease = await pool.tryAcquire('key:fallback', 1, 1);
    expect(lease).toBeDefined();
    expect(await pool.tryAcquire('key:fallback', 1, 1)).toBeUndefined();
    expect(errors.length).toBeGreaterThan(0);
    await broken.close();
  });
});
