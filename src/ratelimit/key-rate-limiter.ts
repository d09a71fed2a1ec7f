// Per-key rate limits on rate-limiter-flexible: requests per minute, images per minute and
// concurrent requests, answered with OpenAI's x-ratelimit-* headers. The limiters come from a
// factory, so the in-memory store can be swapped for its Redis store without touching this logic.

import { RateLimiterMemory, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { GatewayError } from '../core/errors.js';
import type { ApiKeyRecord } from '../core/ports/key-store.js';
import type { RateLimiter, RateLimitHeaders } from '../core/ports/rate-limiter.js';

/** Builds one limiter allowing `points` per `durationSeconds` (0 = never reset, for concurrency slots). */
export type LimiterFactory = (options: { keyPrefix: string; points: number; durationSeconds: number }) => RateLimiterAbstract;

export const memoryLimiters: LimiterFactory = ({ keyPrefix, points, durationSeconds }) =>
  new RateLimiterMemory({ keyPrefix, points, duration: durationSeconds });

export interface KeyRateLimiterOptions {
  /** Defaults to the in-memory store. */
  limiters?: LimiterFactory;
}

type Dimension = 'requests' | 'images';

const dimensionNames: Record<Dimension, string> = { requests: 'requests per minute (RPM)', images: 'images per minute (IPM)' };

/** OpenAI writes reset times as Go durations: `20ms`, `1s`, `6m0s`, `1h2m3s`. */
export function formatResetDuration(milliseconds: number): string {
  const ms = Math.max(0, Math.ceil(milliseconds));
  if (ms < 1000) return `${ms}ms`;
  const totalSeconds = Math.ceil(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${minutes}m${seconds}s`;
  return `${seconds}s`;
}

function headersFor(dimension: Dimension, limit: number, result: RateLimiterRes): RateLimitHeaders {
  return {
    [`x-ratelimit-limit-${dimension}`]: String(limit),
    [`x-ratelimit-remaining-${dimension}`]: String(Math.max(0, result.remainingPoints)),
    [`x-ratelimit-reset-${dimension}`]: formatResetDuration(result.msBeforeNext),
  };
}

export function createKeyRateLimiter(options: KeyRateLimiterOptions = {}): RateLimiter {
  const factory = options.limiters ?? memoryLimiters;
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
      Object.assign(headers, headersFor(dimension, limit, rejection), { [`x-ratelimit-remaining-${dimension}`]: String(Math.max(0, limit - used)) });
      const wait = formatResetDuration(rejection.msBeforeNext);
      throw new GatewayError(
        'rate_limit_exceeded',
        `Rate limit reached for key ${key.prefix}… on ${dimensionNames[dimension]}: Limit ${limit}, Used ${used}, Requested ${points}. Please try again in ${wait}.`,
        { retryAfterSeconds: rejection.msBeforeNext / 1000, headers },
      );
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
      const limiter = limiterFor('concurrent', limit, 0);
      try {
        await limiter.consume(key.id, 1);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        // The refused request never held a slot.
        await limiter.reward(key.id, 1);
        throw new GatewayError(
          'rate_limit_exceeded',
          `Rate limit reached for key ${key.prefix}… on concurrent requests: Limit ${limit}. Wait for one of your requests to finish, then try again.`,
          { retryAfterSeconds: 1 },
        );
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
