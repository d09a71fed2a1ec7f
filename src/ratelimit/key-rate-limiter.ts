// Per-key rate limits: requests per minute, images per minute and concurrent requests, answered with
// OpenAI's x-ratelimit-* headers. With a shared store (a LimiterFactory of rate-limiter-flexible
// limiters, e.g. its Redis store) every process counts in the same place; without one, the process
// counts alone with plain synchronous counters (./in-process-rate-limiter.ts).

import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Clock } from '../core/ports/clock.js';
import { systemClock } from '../core/ports/clock.js';
import type { ApiKeyRecord } from '../core/ports/key-store.js';
import type { RateLimiter, RateLimitHeaders } from '../core/ports/rate-limiter.js';
import type { SlotPool } from '../core/ports/slot-pool.js';
import { createInProcessRateLimiter } from './in-process-rate-limiter.js';
import { concurrencyRefused, limitRefused, windowHeaders, type Dimension } from './limit-answers.js';

export { formatResetDuration } from './limit-answers.js';

/** Builds one limiter allowing `points` per `durationSeconds` (0 = never reset, for concurrency slots). */
export type LimiterFactory = (options: { keyPrefix: string; points: number; durationSeconds: number }) => RateLimiterAbstract;

export const memoryLimiters: LimiterFactory = ({ keyPrefix, points, durationSeconds }) =>
  new RateLimiterMemory({ keyPrefix, points, duration: durationSeconds });

export interface KeyRateLimiterOptions {
  /** A shared store's limiters; unset = this process counts alone (synchronous in-process counters). */
  limiters?: LimiterFactory;
  /** The in-process counters' clock. */
  clock?: Clock;
  /** With `limiters`: concurrency slots as leases in a shared pool (Redis), so a dead process's slots come back. */
  slots?: SlotPool;
}

function headersFor(dimension: Dimension, limit: number, result: RateLimiterRes): RateLimitHeaders {
  return windowHeaders(dimension, limit, result.remainingPoints, result.msBeforeNext);
}

export function createKeyRateLimiter(options: KeyRateLimiterOptions = {}): RateLimiter {
  if (options.limiters === undefined) return createInProcessRateLimiter(options.clock ?? systemClock);
  const factory = options.limiters;
  // One limiter per distinct limit value: keys share it, separated by their id, and a key whose
  // limit an operator changes simply moves to the limiter of its new value.
  const limiters = new Map<string, RateLimiterAbstract>();
  const limiterFor = (kind: string, points: number, durationSeconds: number): RateLimiterAbstract => {
    const name = `${kind}:${points}`;
    let limiter = limiters.get(name);
    if (!limiter) {
      limiter = factory({ keyPrefix: `imagegate:${name}`, points, durationSeconds });
      limiters.set(name, limiter);
    }
    return limiter;
  };

  /** Counts `points` against one dimension; throws with every header gathered so far when over. */
  async function take(dimension: Dimension, key: ApiKeyRecord, limit: number, points: number, headers: RateLimitHeaders): Promise<void> {
    const limiter = limiterFor(dimension, limit, 60);
    try {
      Object.assign(headers, headersFor(dimension, limit, await limiter.consume(key.id, points)));
    } catch (rejection) {
      if (!(rejection instanceof RateLimiterRes)) throw rejection;
      // Images refused are not images used: give the points back so one oversized request does not block the minute.
      if (dimension === 'images') await limiter.reward(key.id, points);
      const used = Math.max(0, Math.min(limit, rejection.consumedPoints - points));
      Object.assign(headers, windowHeaders(dimension, limit, limit - used, rejection.msBeforeNext));
      throw limitRefused(dimension, key, { limit, used, requested: points, msBeforeNext: rejection.msBeforeNext, headers });
    }
  }

  return {
    async consume(key, images) {
      const headers: RateLimitHeaders = {};
      const { requestsPerMinute, imagesPerMinute } = key.rateLimits;
      if (requestsPerMinute !== null) await take('requests', key, requestsPerMinute, 1, headers);
      if (imagesPerMinute !== null) await take('images', key, imagesPerMinute, images, headers);
      return headers;
    },

    async enter(key) {
      const limit = key.rateLimits.concurrentRequests;
      if (limit === null) return () => undefined;
      if (options.slots !== undefined) {
        const lease = await options.slots.tryAcquire(`key:${key.id}`, limit, 1);
        if (lease === undefined) throw concurrencyRefused(key, limit);
        return () => lease.release();
      }
      const limiter = limiterFor('concurrent', limit, 0);
      try {
        await limiter.consume(key.id, 1);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        // The refused request never held a slot.
        await limiter.reward(key.id, 1);
        throw concurrencyRefused(key, limit);
      }
      let released = false;
      return () => {
        if (released) return;
        released = true;
        limiter.reward(key.id, 1).catch(() => undefined);
      };
    },
  };
}
