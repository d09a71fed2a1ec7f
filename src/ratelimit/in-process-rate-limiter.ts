// The per-key limiter of a single process with no shared store: plain synchronous counters in fixed
// one-minute windows (a key's window starts at its first request, as rate-limiter-flexible's memory
// store does) and a count of concurrent slots. Same answers and headers as the store-backed limiter
// (./key-rate-limiter.ts), without its four promise-returning store operations per request.

import type { ApiKeyRecord } from '../core/ports/key-store.js';
import type { Clock } from '../core/ports/clock.js';
import type { RateLimiter, RateLimitHeaders } from '../core/ports/rate-limiter.js';
import { addWindowHeaders, concurrencyRefused, limitRefused, type Dimension } from './limit-answers.js';

interface Window {
  used: number;
  endsAt: number;
}

const windowMs = 60_000;
/** Past this many windows, expired ones are dropped (keys that stopped sending keep no memory). */
const pruneAbove = 10_000;

export function createInProcessRateLimiter(clock: Clock): RateLimiter {
  // One map per dimension, keyed by the key's id as it is (no `${dimension}:${id}` string made per request).
  const windows: Record<Dimension, Map<string, Window>> = { requests: new Map(), images: new Map() };
  const slots = new Map<string, number>();

  const prune = (counted: Map<string, Window>, now: number): void => {
    for (const [name, window] of counted) if (window.endsAt <= now) counted.delete(name);
  };

  /** Counts `points` against one dimension; throws with every header gathered so far when over. */
  const take = (dimension: Dimension, key: ApiKeyRecord, limit: number, points: number, headers: RateLimitHeaders): void => {
    const now = clock.now();
    const counted = windows[dimension];
    let window = counted.get(key.id);
    if (window === undefined || window.endsAt <= now) {
      if (counted.size >= pruneAbove) prune(counted, now);
      window = { used: 0, endsAt: now + windowMs };
      counted.set(key.id, window);
    }
    const msBeforeNext = window.endsAt - now;
    // Requests count even when refused (a client hammering past its limit stays limited); images
    // refused are not images used, so one oversized request does not block the minute.
    if (dimension === 'requests') window.used += points;
    const used = dimension === 'requests' ? window.used : window.used + points;
    if (used > limit) {
      const usedBefore = Math.min(limit, used - points);
      addWindowHeaders(headers, dimension, limit, limit - usedBefore, msBeforeNext);
      throw limitRefused(dimension, key, { limit, used: usedBefore, requested: points, msBeforeNext, headers });
    }
    if (dimension === 'images') window.used = used;
    addWindowHeaders(headers, dimension, limit, limit - used, msBeforeNext);
  };

  return {
    consume(key, images) {
      const headers: RateLimitHeaders = {};
      const { requestsPerMinute, imagesPerMinute } = key.rateLimits;
      try {
        if (requestsPerMinute !== null) take('requests', key, requestsPerMinute, 1, headers);
        if (imagesPerMinute !== null) take('images', key, imagesPerMinute, images, headers);
      } catch (error) {
        return Promise.reject(error);
      }
      return Promise.resolve(headers);
    },

    enter(key) {
      const limit = key.rateLimits.concurrentRequests;
      if (limit === null) return Promise.resolve(() => undefined);
      const held = slots.get(key.id) ?? 0;
      if (held >= limit) return Promise.reject(concurrencyRefused(key, limit));
      slots.set(key.id, held + 1);
      let released = false;
      return Promise.resolve(() => {
        if (released) return;
        released = true;
        const now = (slots.get(key.id) ?? 1) - 1;
        if (now <= 0) slots.delete(key.id);
        else slots.set(key.id, now);
      });
    },
  };
}
