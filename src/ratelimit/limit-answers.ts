// What every per-key limiter answers, whatever counts for it: OpenAI's x-ratelimit-* headers and the
// 429 errors, so the in-process and the store-backed limiters cannot drift apart.

import { GatewayError } from '../core/errors.js';
import type { ApiKeyRecord } from '../core/ports/key-store.js';
import type { RateLimitHeaders } from '../core/ports/rate-limiter.js';

export type Dimension = 'requests' | 'images';

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

const headerNames = {
  requests: { limit: 'x-ratelimit-limit-requests', remaining: 'x-ratelimit-remaining-requests', reset: 'x-ratelimit-reset-requests' },
  images: { limit: 'x-ratelimit-limit-images', remaining: 'x-ratelimit-remaining-images', reset: 'x-ratelimit-reset-images' },
} as const;

/** Writes one dimension's three headers into `headers` (every limited request does, so no object of its own). */
export function addWindowHeaders(headers: RateLimitHeaders, dimension: Dimension, limit: number, remaining: number, msBeforeNext: number): RateLimitHeaders {
  const names = headerNames[dimension];
  headers[names.limit] = String(limit);
  headers[names.remaining] = String(Math.max(0, remaining));
  headers[names.reset] = formatResetDuration(msBeforeNext);
  return headers;
}

export function windowHeaders(dimension: Dimension, limit: number, remaining: number, msBeforeNext: number): RateLimitHeaders {
  return addWindowHeaders({}, dimension, limit, remaining, msBeforeNext);
}

export function limitRefused(
  dimension: Dimension,
  key: ApiKeyRecord,
  facts: { limit: number; used: number; requested: number; msBeforeNext: number; headers: RateLimitHeaders },
): GatewayError {
  const wait = formatResetDuration(facts.msBeforeNext);
  return new GatewayError(
    'rate_limit_exceeded',
    `Rate limit reached for key ${key.prefix}… on ${dimensionNames[dimension]}: Limit ${facts.limit}, Used ${facts.used}, Requested ${facts.requested}. Please try again in ${wait}.`,
    { retryAfterSeconds: facts.msBeforeNext / 1000, headers: facts.headers },
  );
}

export function concurrencyRefused(key: ApiKeyRecord, limit: number): GatewayError {
  return new GatewayError(
    'rate_limit_exceeded',
    `Rate limit reached for key ${key.prefix}… on concurrent requests: Limit ${limit}. Wait for one of your requests to finish, then try again.`,
    { retryAfterSeconds: 1 },
  );
}
