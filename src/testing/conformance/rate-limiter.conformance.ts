// The behaviour every RateLimiter (this process's memory, Redis shared by replicas) must show. A
// factory gives two limiters that stand for two gateway processes: with memory they are one object
// (one process), with Redis two separate connections, so "shared" is tested the same way for both.

import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newKeyRecord } from '../../core/api-keys.js';
import { GatewayError } from '../../core/errors.js';
import type { ApiKeyRecord, KeyRateLimits } from '../../core/ports/key-store.js';
import type { RateLimiter } from '../../core/ports/rate-limiter.js';

export interface RateLimitersUnderTest {
  /** Two processes' limiters over the same shared state. */
  replicas: [RateLimiter, RateLimiter];
  cleanup(): Promise<void>;
}

function key(limits: Partial<KeyRateLimits>): ApiKeyRecord {
  const record = newKeyRecord(`sk-conformance-${randomUUID()}`, { name: 'limited', source: 'admin', now: Date.now() });
  return { ...record, rateLimits: { ...record.rateLimits, ...limits } };
}

async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

export function describeRateLimiterConformance(name: string, create: () => Promise<RateLimitersUnderTest>): void {
  describe(`RateLimiter conformance: ${name}`, () => {
    let subject: RateLimitersUnderTest;
    let first: RateLimiter;
    let second: RateLimiter;

    beforeEach(async () => {
      subject = await create();
      [first, second] = subject.replicas;
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('counts requests per minute across replicas and refuses the one over with 429 and headers', async () => {
      const limited = key({ requestsPerMinute: 3 });
      expect((await first.consume(limited, 1))['x-ratelimit-remaining-requests']).toBe('2');
      expect((await second.consume(limited, 1))['x-ratelimit-remaining-requests']).toBe('1');
      expect((await first.consume(limited, 1))['x-ratelimit-remaining-requests']).toBe('0');
      const error = await refusal(second.consume(limited, 1));
      expect([error.status, error.code]).toEqual([429, 'rate_limit_exceeded']);
      expect(error.retryAfterSeconds).toBeGreaterThan(0);
      expect(error.retryAfterSeconds).toBeLessThanOrEqual(60);
      expect(error.headers).toMatchObject({ 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': '0' });
    });

    it('counts images by n across replicas, and a refused request does not use up the minute', async () => {
      const limited = key({ imagesPerMinute: 10 });
      await first.consume(limited, 4);
      await second.consume(limited, 4);
      const error = await refusal(first.consume(limited, 4));
      expect(error.message).toMatch(/images per minute \(IPM\): Limit 10, Used 8, Requested 4/);
      expect((await second.consume(limited, 2))['x-ratelimit-remaining-images']).toBe('0');
      await refusal(first.consume(limited, 1));
    });

    it('gives exactly the limit to many concurrent requests spread over the replicas', async () => {
      const limited = key({ imagesPerMinute: 10 });
      const outcomes = await Promise.allSettled(Array.from({ length: 40 }, (_, index) => (index % 2 === 0 ? first : second).consume(limited, 1)));
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(10);
    });

    it('keeps keys apart', async () => {
      const one = key({ requestsPerMinute: 1 });
      const other = key({ requestsPerMinute: 1 });
      await first.consume(one, 1);
      await refusal(second.consume(one, 1));
      expect((await second.consume(other, 1))['x-ratelimit-remaining-requests']).toBe('0');
    });

    it('holds concurrency slots across replicas until released, once each', async () => {
      const limited = key({ concurrentRequests: 2 });
      const leaveFirst = await first.enter(limited);
      const leaveSecond = await second.enter(limited);
      const error = await refusal(first.enter(limited));
      expect([error.status, error.code]).toEqual([429, 'rate_limit_exceeded']);
      leaveFirst();
      leaveFirst();
      // The release is sent without waiting for it: wait for the slot to come back, then fill it.
      let leaveThird: (() => void) | undefined;
      for (let tries = 0; tries < 200 && leaveThird === undefined; tries += 1) {
        leaveThird = await second.enter(limited).catch(() => undefined);
        if (leaveThird === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(leaveThird).toBeDefined();
      await refusal(first.enter(limited));
      leaveSecond();
      leaveThird?.();
    });

    it('leaves keys without limits alone', async () => {
      const free = key({});
      for (let index = 0; index < 20; index += 1) expect(await first.consume(free, 10)).toEqual({});
      const leaves = await Promise.all(Array.from({ length: 20 }, (_, index) => (index % 2 === 0 ? first : second).enter(free)));
      for (const leave of leaves) leave();
    });
  });
}
