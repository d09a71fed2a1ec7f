// What replicas share beyond the database, assembled from the config: the change feed (database
// counters, plus Redis pub/sub when redis.url is set), and with Redis the rate-limit counters and the
// concurrency slots of keys and channels. Without Redis each process keeps its own limits and slots.

import type { Logger } from 'pino';
import type { AppConfig } from '../config/schema.js';
import type { ChangeFeed, ChangeVersionStore } from '../core/ports/change-feed.js';
import type { SlotPool } from '../core/ports/slot-pool.js';
import type { LimiterFactory } from '../ratelimit/key-rate-limiter.js';
import { createMemorySlotPool } from '../ratelimit/memory-slot-pool.js';
import { createPollingChangeFeed } from './polling-change-feed.js';
import type { RedisConnection } from './redis-client.js';

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
  if (config.redis === undefined) {
    const feed = createPollingChangeFeed({ versions, pollMs: databasePollMs, onError: onError('change poll') });
    await feed.ready();
    return { feed, limiters: undefined, slots: undefined, redis: undefined, close: () => feed.close() };
  }
  // Loaded only with Redis configured: a gateway without it does not carry ioredis (~2.4 MB of heap).
  const [{ connectRedis }, { createRedisChangeFeed }, { createRedisSlotPool }, { redisLimiters }] = await Promise.all([
    import('./redis-client.js'),
    import('./redis-change-feed.js'),
    import('../ratelimit/redis-slot-pool.js'),
    import('../ratelimit/redis-limiters.js'),
  ]);
  const redis = await connectRedis(config.redis.url, config.redis.prefix);
  const database = createPollingChangeFeed({ versions, pollMs: databasePollWithRedisMs, onError: onError('change poll') });
  const feed = createRedisChangeFeed({ redis, database, onError: onError('change notice') });
  await feed.ready();
  const slots = createRedisSlotPool({ client: redis.client, prefix: redis.prefix, fallback: createMemorySlotPool(), onError: onError('shared concurrency slots') });
  return {
    feed,
    limiters: redisLimiters(redis.client, redis.prefix),
    slots,
    redis,
    async close() {
      await feed.close();
      await redis.close();
    },
  };
}
