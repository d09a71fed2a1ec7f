// The breaker's states driven by a manual clock: open after N failures, one probe after the cool-down, close or re-open.

import { describe, expect, it } from 'vitest';
import { manualClock } from '../core/ports/clock.js';
import { CircuitBreaker, type CircuitState } from './circuit-breaker.js';

function breaker(threshold = 3, cooldownMs = 10_000) {
  const clock = manualClock(1_000_000);
  const changes: Array<[CircuitState, CircuitState]> = [];
  const subject = new CircuitBreaker({ failureThreshold: threshold, cooldownMs, clock, onStateChange: (state, from) => changes.push([from, state]) });
  const fail = () => subject.tryAcquire()?.failure();
  return { subject, clock, changes, fail };
}

describe('CircuitBreaker', () => {
  it('stays closed below the threshold and a success resets the count', () => {
    const { subject, fail } = breaker(3);
    fail();
    fail();
    subject.tryAcquire()?.success();
    fail();
    fail();
    expect(subject.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
    expect(subject.tryAcquire()).toBeDefined();
  });

  it('opens after N consecutive failures and rejects until the cool-down has passed', () => {
    const { subject, clock, changes, fail } = breaker(3, 10_000);
    fail();
    fail();
    fail();
    expect(subject.snapshot().state).toBe('open');
    expect(subject.tryAcquire()).toBeUndefined();
    expect(subject.retryAfterMs()).toBe(10_000);
    clock.advance(9_999);
    expect(subject.tryAcquire()).toBeUndefined();
    expect(changes).toEqual([['closed', 'open']]);
  });

  it('lets exactly one probe through when half-open and closes when it succeeds', () => {
    const { subject, clock, changes, fail } = breaker(2, 5_000);
    fail();
    fail();
    clock.advance(5_000);
    expect(subject.snapshot().state).toBe('half_open');
    const probe = subject.tryAcquire();
    expect(probe).toBeDefined();
    expect(subject.tryAcquire()).toBeUndefined();
    probe?.success();
    expect(subject.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(subject.tryAcquire()).toBeDefined();
    expect(changes).toEqual([
      ['closed', 'open'],
      ['open', 'half_open'],
      ['half_open', 'closed'],
    ]);
  });

  it('re-opens for a whole new cool-down when the probe fails', () => {
    const { subject, clock, fail } = breaker(1, 5_000);
    fail();
    clock.advance(5_000);
    subject.tryAcquire()?.failure();
    expect(subject.snapshot().state).toBe('open');
    clock.advance(4_999);
    expect(subject.tryAcquire()).toBeUndefined();
    clock.advance(1);
    expect(subject.tryAcquire()).toBeDefined();
  });

  it('a neutral probe (validation, moderation) frees the probe slot without deciding anything', () => {
    const { subject, clock, fail } = breaker(1, 1_000);
    fail();
    clock.advance(1_000);
    subject.tryAcquire()?.neutral();
    expect(subject.snapshot().state).toBe('half_open');
    const next = subject.tryAcquire();
    expect(next).toBeDefined();
    next?.success();
    expect(subject.snapshot().state).toBe('closed');
  });

  it('neutral outcomes never count as failures', () => {
    const { subject } = breaker(1);
    for (let index = 0; index < 10; index += 1) subject.tryAcquire()?.neutral();
    expect(subject.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('answers of calls started before the circuit opened neither close it nor count twice', () => {
    const { subject, fail } = breaker(2);
    const early = subject.tryAcquire();
    const earlyFailure = subject.tryAcquire();
    fail();
    fail();
    expect(subject.snapshot().state).toBe('open');
    early?.success();
    earlyFailure?.failure();
    earlyFailure?.failure();
    expect(subject.snapshot()).toMatchObject({ state: 'open', consecutiveFailures: 2 });
  });

  it('settles a permit once: a second call on it is ignored', () => {
    const { subject } = breaker(2);
    const permit = subject.tryAcquire();
    permit?.failure();
    permit?.failure();
    expect(subject.snapshot().consecutiveFailures).toBe(1);
  });
});
