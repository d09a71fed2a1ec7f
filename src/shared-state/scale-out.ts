// What replicas share beyond the database, assembled from the config: the change feed (database
// counters, plus Redis pub/sub when redis.url is set), and with Redis the rate-limit counters and the
// concurrency slots of keys and channels. Without Redis each process keeps its own limits and slots.

import type { Logger } from 'pino';
import type { AppConfig } from '../config/schema.js';
import type { ChangeFeed, ChangeVersionStore } from '../core/ports/change-feed.js';
import type { SlotPool } from '../core/ports/slot-pool.js';
import type { LimiterFactory } from '../ratelimit/key-rate-limiter.js';
import { createMemorySlotPool } from '../ratelimit/memory-slot-pool.js';
import { redisLimiters } from '../ratelimit/redis-limiters.js';
import { createRedisSlotPool } from '../ratelimit/redis-slot-pool.js';
import { createPollingChangeFeed } from './polling-change-feed.js';
import { connectRedis, type RedisConnection } from './redis-client.js';
import { createRedisChangeFeed } from './redis-change-feed.js';

export interface SharedState {
  feed: ChangeFeed;
  /** Redis's counters; undefined: this process's memory. */
  limiters: LimiterFactory | undefined;
  /** Slots shared by the replicas; undefined: this process's own. */
  slots: SlotPool | undefined;
  redis: RedisConnection | undefined;
  close(): Promise<void>;
}

/** Without Redis the database is polled this often: a change made on one process applies on the others within about this. */
export const databasePollMs = 1_000;
/** With Redis, pub/sub carries changes at once; the database poll only catches a missed notice. */
export const databasePollWithRedisMs = 5_000;

export async function openSharedState(config: AppConfig, versions: ChangeVersionStore, logger: Logger): Promise<SharedState> {
  const onError = (what: string) => (error: unknown) => logger.warn({ err: error, event: 'shared_state_error', what }, `${what} failed`);
  const redis = config.redis === undefined ? undefined : await connectRedis(config.redis.url, config.redis.prefix);
  const database = createPollingChangeFeed({ versions, pollMs: redis === undefined ? databasePollMs : databasePollWithRedisMs, onError: onError('change poll') });
  const feed = redis === undefined ? database : createRedisChangeFeed({ redis, database, onError: onError('change notice') });
  await feed.ready();
  const memorySlots = createMemorySlotPool();
  const slots =
    redis === undefined
      ? undefined
      : createRedisSlotPool({ client: redis.client, prefix: redis.prefix, fallback: memorySlots, onError: onError('shared concurrency slots') });
  return {
    feed,
    limiters: redis === undefined ? undefined : redisLimiters(redis.client, redis.prefix),
    slots,
    redis,
    async close() {
      await feed.close();
      await redis?.close();
    },
  };
}
