// The per-key limiters: OpenAI's headers, refusals with retry-after, images counted per request,
// concurrency slots given back, and keys without limits untouched.

import { describe, expect, it } from 'vitest';
import { newKeyRecord } from '../core/api-keys.js';
import { GatewayError } from '../core/errors.js';
import type { ApiKeyRecord, KeyRateLimits } from '../core/ports/key-store.js';
import { createKeyRateLimiter, formatResetDuration, memoryLimiters } from './key-rate-limiter.js';

function key(limits: Partial<KeyRateLimits>, name = 'limited'): ApiKeyRecord {
  const record = newKeyRecord(`sk-${name}-${Math.random()}`, { name, source: 'admin', now: Date.now() });
  return { ...record, rateLimits: { ...record.rateLimits, ...limits } };
}

// The same behaviour from the in-process counters and from a store-backed limiter (rate-limiter-flexible's memory store standing in for Redis).
const variants = [
  ['in-process counters', () => createKeyRateLimiter()],
  ['store-backed limiters', () => createKeyRateLimiter({ limiters: memoryLimiters })],
] as const;

describe.each(variants)('key rate limiter: %s', (_, createLimiter) => {
  it('formats reset times as OpenAI does', () => {
    expect([formatResetDuration(20), formatResetDuration(1000), formatResetDuration(1001), formatResetDuration(360_000), formatResetDuration(3_723_000)]).toEqual([
      '20ms',
      '1s',
      '2s',
      '6m0s',
      '1h2m3s',
    ]);
  });

  it('counts requests per minute and refuses the one over the limit with retry-after and headers', async () => {
    const limiter = createLimiter();
    const limited = key({ requestsPerMinute: 2 });
    const first = await limiter.consume(limited, 1);
    expect(first).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '1' });
    expect(first['x-ratelimit-reset-requests']).toMatch(/^(\d+ms|\d+s|1m0s)$/);
    expect((await limiter.consume(limited, 1))['x-ratelimit-remaining-requests']).toBe('0');
    const error = (await limiter.consume(limited, 1).catch((caught: unknown) => caught)) as GatewayError;
    expect(error).toBeInstanceOf(GatewayError);
    expect([error.status, error.code, error.type]).toEqual([429, 'rate_limit_exceeded', 'requests']);
    expect(error.retryAfterSeconds).toBeGreaterThan(0);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(60);
    expect(error.headers).toMatchObject({ 'x-ratelimit-limit-requests': '2', 'x-ratelimit-remaining-requests': '0' });
    expect(error.message).toMatch(/requests per minute \(RPM\): Limit 2, Used 2, Requested 1/);
    // Another key is not affected.
    expect(await limiter.consume(key({ requestsPerMinute: 2 }, 'other'), 1)).toMatchObject({ 'x-ratelimit-remaining-requests': '1' });
  });

  it('counts images per minute by n, and a refused request does not use up the minute', async () => {
    const limiter = createLimiter();
    const limited = key({ imagesPerMinute: 5 });
    expect((await limiter.consume(limited, 3))['x-ratelimit-remaining-images']).toBe('2');
    const error = (await limiter.consume(limited, 3).catch((caught: unknown) => caught)) as GatewayError;
    expect([error.code, error.headers?.['x-ratelimit-remaining-images']]).toEqual(['rate_limit_exceeded', '2']);
    expect(error.message).toMatch(/images per minute \(IPM\): Limit 5, Used 3, Requested 3/);
    expect((await limiter.consume(limited, 2))['x-ratelimit-remaining-images']).toBe('0');
  });

  it('holds concurrency slots until released, once each', async () => {
    const limiter = createLimiter();
    const limited = key({ concurrentRequests: 2 });
    const leaveFirst = await limiter.enter(limited);
    const leaveSecond = await limiter.enter(limited);
    const error = (await limiter.enter(limited).catch((caught: unknown) => caught)) as GatewayError;
    expect([error.status, error.code]).toEqual([429, 'rate_limit_exceeded']);
    leaveFirst();
    leaveFirst();
    const leaveThird = await limiter.enter(limited);
    await expect(limiter.enter(limited)).rejects.toBeInstanceOf(GatewayError);
    leaveSecond();
    leaveThird();
    await Promise.resolve();
    (await limiter.enter(limited))();
  });

  it('leaves keys without limits alone', async () => {
    const limiter = createLimiter();
    const free = key({});
    for (let index = 0; index < 100; index += 1) expect(await limiter.consume(free, 10)).toEqual({});
    const leaves = await Promise.all(Array.from({ length: 50 }, () => limiter.enter(free)));
    for (const leave of leaves) leave();
  });
});
