// The failover loop's decisions: which failures move to the next channel, which stop, and what the client is told.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../core/errors.js';
import { manualClock } from '../core/ports/clock.js';
import type { ImageModel } from '../core/ports/image-model.js';
import type { ModelRoute, RouteAttemptControl } from '../core/ports/model-router.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ConcurrencyLimiter } from './concurrency-limiter.js';
import { runWithFailover, type FailoverTarget } from './failover.js';
import { KeyRotation } from './key-rotation.js';

const clock = manualClock(5_000_000);

interface TestTarget extends FailoverTarget {
  limiter: ConcurrencyLimiter;
  rotation: KeyRotation;
  rejectedKeys: number[];
}

function target(channel: string, options: { keys?: number; maxConcurrency?: number; maxQueue?: number; threshold?: number } = {}): TestTarget {
  const rotation = new KeyRotation(options.keys ?? 1);
  const rejectedKeys: number[] = [];
  return {
    channel,
    rotation,
    rejectedKeys,
    breaker: new CircuitBreaker({ failureThreshold: options.threshold ?? 5, cooldownMs: 1_000, clock }),
    limiter: new ConcurrencyLimiter({ maxConcurrency: options.maxConcurrency, maxQueue: options.maxQueue ?? 10 }),
    nextRoute: () => {
      const keyPosition = rotation.next();
      if (keyPosition === undefined) return undefined;
      const route: ModelRoute = { imageModel: { modelId: 'm', maxImagesPerCall: 1 } as ImageModel, channel, provider: 'test', key: keyPosition };
      return { route, keyPosition, warnings: [`via ${channel}`] };
    },
    rejectKey: async (keyPosition) => {
      rejectedKeys.push(keyPosition);
      return rotation.reject(keyPosition);
    },
  };
}

const options = (maxAttempts = 3) => ({ maxAttempts, signal: new AbortController().signal, permitsFor: () => 1 });

/** An attempt that answers per channel: a string is success, an error is thrown. */
function scripted(script: Record<string, Array<string | Error>>) {
  const calls: string[] = [];
  const attempt = async (route: ModelRoute, _control: RouteAttemptControl) => {
    calls.push(`${route.channel}#${route.key}`);
    const next = script[route.channel]?.shift();
    if (next instanceof Error) throw next;
    return next ?? 'ok';
  };
  return { calls, attempt };
}

const unavailable = () => new GatewayError('upstream_error', 'upstream failed (HTTP 503)');
const moderated = () => new GatewayError('moderation_blocked', 'rejected by the safety system');
const authFailed = () => new GatewayError('upstream_auth_failed', 'credentials rejected');

describe('runWithFailover', () => {
  it('moves to the next channel after a retryable failure and reports the attempts', async () => {
    const first = target('first');
    const { calls, attempt } = scripted({ first: [unavailable()], second: ['image'] });
    const result = await runWithFailover([first, target('second')], options(), attempt);
    expect(calls).toEqual(['first#0', 'second#0']);
    expect([result.value, result.route.channel, result.attempts, result.warnings]).toEqual(['image', 'second', 2, ['via second']]);
    expect(first.breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('gives up after max_attempts and throws the last failure', async () => {
    const { calls, attempt } = scripted({ a: [unavailable()], b: [unavailable()], c: [new GatewayError('upstream_timeout', 'slow')], d: ['never'] });
    const error = await runWithFailover([target('a'), target('b'), target('c'), target('d')], options(3), attempt).catch((caught: unknown) => caught);
    expect(calls).toEqual(['a#0', 'b#0', 'c#0']);
    expect((error as GatewayError).code).toBe('upstream_timeout');
  });

  it('never retries a moderation or validation error, and does not count it against the channel', async () => {
    const first = target('first', { threshold: 1 });
    const { calls, attempt } = scripted({ first: [moderated()] });
    const error = await runWithFailover([first, target('second')], options(), attempt).catch((caught: unknown) => caught);
    expect((error as GatewayError).code).toBe('moderation_blocked');
    expect(calls).toEqual(['first#0']);
    expect(first.breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('never sends a job elsewhere once an upstream accepted it', async () => {
    const calls: string[] = [];
    const error = await runWithFailover([target('first'), target('second')], options(), async (route, control) => {
      calls.push(route.channel);
      control.markAccepted();
      throw new GatewayError('upstream_error', 'connection reset while polling');
    }).catch((caught: unknown) => caught);
    expect(calls).toEqual(['first']);
    expect((error as GatewayError).message).toContain('polling');
  });

  it('an auth failure rejects the key, tries the channel’s next key, then moves on when none is left', async () => {
    const keyed = target('keyed', { keys: 2 });
    const { calls, attempt } = scripted({ keyed: [authFailed(), authFailed()], spare: ['image'] });
    const result = await runWithFailover([keyed, target('spare')], options(5), attempt);
    expect(calls).toEqual(['keyed#0', 'keyed#1', 'spare#0']);
    expect(keyed.rejectedKeys).toEqual([0, 1]);
    expect(result.route.channel).toBe('spare');
    expect(keyed.breaker.snapshot().consecutiveFailures).toBe(0);
  });

  it('skips a channel whose circuit is open; with none left says 503 with retry-after', async () => {
    const broken = target('broken', { threshold: 1 });
    broken.breaker.tryAcquire()?.failure();
    const { calls, attempt } = scripted({ healthy: ['image'] });
    expect((await runWithFailover([broken, target('healthy')], options(), attempt)).route.channel).toBe('healthy');
    expect(calls).toEqual(['healthy#0']);

    const error = (await runWithFailover([broken], options(), attempt).catch((caught: unknown) => caught)) as GatewayError;
    expect([error.code, error.status, error.retryAfterSeconds]).toEqual(['service_unavailable', 503, 1]);
  });

  it('skips a channel whose queue is full; with none left says 429 upstream_busy', async () => {
    const full = target('full', { maxConcurrency: 1, maxQueue: 0 });
    const held = await full.limiter.acquire(1, new AbortController().signal);
    const { calls, attempt } = scripted({ free: ['image'] });
    expect((await runWithFailover([full, target('free')], options(), attempt)).route.channel).toBe('free');
    const error = (await runWithFailover([full], options(), attempt).catch((caught: unknown) => caught)) as GatewayError;
    expect([error.code, error.status]).toEqual(['upstream_busy', 429]);
    expect(calls).toEqual(['free#0']);
    held.release();
  });

  it('releases the concurrency slot whatever the outcome', async () => {
    const only = target('only', { maxConcurrency: 1 });
    const { attempt } = scripted({ only: [unavailable(), 'image'] });
    await runWithFailover([only], options(1), attempt).catch(() => undefined);
    await runWithFailover([only], options(1), attempt);
    expect(only.limiter.stats()).toEqual({ inFlight: 0, queued: 0 });
  });

  it('stops when the client goes away, without blaming the channel', async () => {
    const controller = new AbortController();
    const first = target('first', { threshold: 1 });
    const calls: string[] = [];
    const error = await runWithFailover([first, target('second')], { ...options(), signal: controller.signal }, async (route) => {
      calls.push(route.channel);
      controller.abort(new Error('client left'));
      throw new GatewayError('upstream_error', 'aborted');
    }).catch((caught: unknown) => caught);
    expect((error as GatewayError).message).toBe('aborted');
    expect(calls).toEqual(['first']);
    expect(first.breaker.snapshot().state).toBe('closed');
  });

  it('with no channel at all says 503', async () => {
    const error = (await runWithFailover([], options(), async () => 'x').catch((caught: unknown) => caught)) as GatewayError;
    expect(error.code).toBe('service_unavailable');
  });
});
