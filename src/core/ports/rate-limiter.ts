// Per-key request and image rate limits, checked before any work is done.

import type { ApiKeyRecord } from './key-store.js';

export interface RateLimitHeaders {
  [name: string]: string;
}

export interface RateLimiter {
  /**
   * Counts one request of `images` images for the key. Throws GatewayError `rate_limit_exceeded`
   * (with retryAfterSeconds) when over a limit; returns the x-ratelimit-* headers to send either way.
   */
  consume(key: ApiKeyRecord, images: number): Promise<RateLimitHeaders>;
  /**
   * Takes one of the key's concurrent-request slots, or throws `rate_limit_exceeded` when all are
   * taken. Call the returned function once when the request ends (it is safe to call twice).
   */
  enter(key: ApiKeyRecord): Promise<() => void>;
}

export const unlimitedRateLimiter: RateLimiter = { consume: async () => ({}), enter: async () => () => undefined };
