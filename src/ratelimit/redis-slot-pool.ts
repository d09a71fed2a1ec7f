// The SlotPool shared by every replica, in Redis: one sorted set per pool, one member per slot held,
// scored with the time its lease runs out. Taking slots drops expired members first and adds ours
// only if they fit, in one Lua script (atomic in Redis); holders renew their leases every third of the
// lease time. A replica killed with SIGKILL stops renewing, and its slots free themselves after at
// most one lease time. Times come from Redis (TIME), so replicas' clocks need not agree.

import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { SlotLease, SlotPool } from '../core/ports/slot-pool.js';

export interface RedisSlotPoolOptions {
  client: Redis;
  /** Key prefix (`imagegate:`); the pool adds `slots:<name>`. */
  prefix: string;
  /** How long a slot outlives its last renewal (default 30 s). */
  leaseMs?: number;
  /** Told when Redis cannot be reached. */
  onError?: (error: unknown) => void;
  /** Used while Redis cannot be reached (this process's own slots); without it the error is thrown. */
  fallback?: SlotPool;
}

// KEYS[1] pool; ARGV: limit, permits, leaseMs, member prefix. Returns 1 when taken, 0 when full.
const acquireScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(ARGV[1])
local permits = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) + permits > limit then return 0 end
local expires = now + tonumber(ARGV[3])
for index = 1, permits do redis.call('ZADD', KEYS[1], expires, ARGV[4] .. ':' .. index) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]) * 2)
return 1
`;

// KEYS[1] pool; ARGV: leaseMs, members… Pushes the expiry of the members still held (XX: never re-adds one that expired).
const renewScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local expires = now + tonumber(ARGV[1])
for index = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', expires, ARGV[index]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1
`;

// KEYS[1] pool. Counts the members whose lease has not run out.
const countScript = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
`;

export interface RedisSlotPool extends SlotPool {
  /** Stops renewing without releasing: what a crash looks like to the other replicas (tests). */
  abandon(): void;
}

export function createRedisSlotPool(options: RedisSlotPoolOptions): RedisSlotPool {
  const { client } = options;
  const leaseMs = options.leaseMs ?? 30_000;
  const poolKey = (name: string) => `${options.prefix}slots:${name}`;
  /** Leases this process holds, renewed together by one timer. */
  const held = new Map<string, { key: string; members: string[] }>();
  let timer: NodeJS.Timeout | undefined;

  const renewAll = () => {
    for (const { key, members } of held.values()) {
      client.eval(renewScript, 1, key, leaseMs, ...members).catch((error: unknown) => options.onError?.(error));
    }
  };
  const track = (id: string, lease: { key: string; members: string[] }) => {
    held.set(id, lease);
    if (timer === undefined) {
      timer = setInterval(renewAll, Math.max(100, Math.floor(leaseMs / 3)));
      timer.unref();
    }
  };
  const untrack = (id: string) => {
    held.delete(id);
    if (held.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  };

  return {
    async tryAcquire(name, limit, permits) {
      const key = poolKey(name);
      const id = randomUUID();
      let taken;
      try {
        taken = await client.eval(acquireScript, 1, key, limit, permits, leaseMs, id);
      } catch (error) {
        if (options.fallback === undefined) throw error;
        options.onError?.(error);
        return options.fallback.tryAcquire(name, limit, permits);
      }
      if (taken !== 1) return undefined;
      const members = Array.from({ length: permits }, (_, index) => `${id}:${index + 1}`);
      track(id, { key, members });
      let released = false;
      const lease: SlotLease = {
        release() {
          if (released) return;
          released = true;
          untrack(id);
          client.zrem(key, ...members).catch((error: unknown) => options.onError?.(error));
        },
      };
      return lease;
    },
    async held(name) {
      return Number(await client.eval(countScript, 1, poolKey(name)));
    },
    abandon() {
      held.clear();
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
  };
}
