// Rate-limit counters in Redis (rate-limiter-flexible's Redis store), shared by every replica: a key
// limited to 10 images a minute gets 10 in total, whichever replicas its requests reach. Should Redis
// become unreachable, each replica goes on counting in memory (the library's insurance limiter), so
// limits loosen to per-replica ones rather than every request failing.

import type { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis } from 'rate-limiter-flexible';
import type { LimiterFactory } from './key-rate-limiter.js';

export function redisLimiters(client: Redis, prefix: string): LimiterFactory {
  return ({ keyPrefix, points, durationSeconds }) =>
    new RateLimiterRedis({
      storeClient: client,
      keyPrefix: `${prefix}${keyPrefix}`,
      points,
      duration: durationSeconds,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: durationSeconds }),
    });
}
