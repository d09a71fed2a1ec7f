// The RateLimiter conformance suite against this process's memory and against Redis shared by two
// separate connections (two replicas).

import { describeRateLimiterConformance } from '../testing/conformance/rate-limiter.conformance.js';
import { deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../testing/redis.js';
import { connectRedis } from '../shared-state/redis-client.js';
import { createKeyRateLimiter } from './key-rate-limiter.js';
import { redisLimiters } from './redis-limiters.js';
import { createRedisSlotPool } from './redis-slot-pool.js';

describeRateLimiterConformance('in-process memory', async () => {
  const limiter = createKeyRateLimiter();
  return { replicas: [limiter, limiter], cleanup: async () => undefined };
});

describeRateLimiterConformance('Redis (rate-limiter-flexible RateLimiterRedis + leased slots)', async () => {
  const prefix = uniqueRedisPrefix('ratelimit');
  const connections = await Promise.all([connectRedis(testRedisUrl, prefix), connectRedis(testRedisUrl, prefix)]);
  const replicas = connections.map((connection) =>
    createKeyRateLimiter({ limiters: redisLimiters(connection.client, prefix), slots: createRedisSlotPool({ client: connection.client, prefix }) }),
  ) as [ReturnType<typeof createKeyRateLimiter>, ReturnType<typeof createKeyRateLimiter>];
  return {
    replicas,
    cleanup: async () => {
      await Promise.all(connections.map((connection) => connection.close()));
      await deleteRedisPrefix(prefix);
    },
  };
});
