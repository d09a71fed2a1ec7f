// The per-channel concurrency cap: slots, a first-come bounded queue, giving up while waiting, resizing.

import { describe, expect, it } from 'vitest';
import { ChannelBusyError, ConcurrencyLimiter, type ConcurrencyLease } from './concurrency-limiter.js';

const never = new AbortController().signal;

/** Resolves once pending promise callbacks have run. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

function track(promise: Promise<ConcurrencyLease>): { lease: ConcurrencyLease | undefined; error: unknown } {
  const state: { lease: ConcurrencyLease | undefined; error: unknown } = { lease: undefined, error: undefined };
  promise.then(
    (lease) => (state.lease = lease),
    (error: unknown) => (state.error = error),
  );
  return state;
}

describe('ConcurrencyLimiter', () => {
  it('grants up to the cap at once, queues the rest first come first served', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: 2, maxQueue: 5 });
    const first = await limiter.acquire(1, never);
    await limiter.acquire(1, never);
    const third = track(limiter.acquire(1, never));
    const fourth = track(limiter.acquire(1, never));
    await settle();
    expect(limiter.stats()).toEqual({ inFlight: 2, queued: 2 });
    expect(third.lease).toBeUndefined();
    first.release();
    await settle();
    expect(third.lease).toBeDefined();
    expect(fourth.lease).toBeUndefined();
    expect(limiter.stats()).toEqual({ inFlight: 2, queued: 1 });
  });

  it('refuses at once with ChannelBusyError when the queue is full', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: 1, maxQueue: 1 });
    await limiter.acquire(1, never);
    track(limiter.acquire(1, never));
    await expect(limiter.acquire(1, never)).rejects.toBeInstanceOf(ChannelBusyError);
    expect(limiter.stats()).toEqual({ inFlight: 1, queued: 1 });
  });

  it('with a queue of 0, refuses whenever the cap is reached', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: 1, maxQueue: 0 });
    const lease = await limiter.acquire(1, never);
    await expect(limiter.acquire(1, never)).rejects.toBeInstanceOf(ChannelBusyError);
    lease.release();
    await expect(limiter.acquire(1, never)).resolves.toBeDefined();
  });

  it('holds one slot per upstream call, never more than the cap for one request', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: 3, maxQueue: 5 });
    const big = await limiter.acquire(10, never);
    expect(limiter.stats().inFlight).toBe(3);
    const small = track(limiter.acquire(1, never));
    await settle();
    expect(small.lease).toBeUndefined();
    big.release();
    big.release();
    await settle();
    expect(limiter.stats()).toEqual({ inFlight: 1, queued: 0 });
  });

  it('a waiter that gives up leaves the queue with its signal reason, and the line moves on', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: 1, maxQueue: 5 });
    const held = await limiter.acquire(1, never);
    const controller = new AbortController();
    const leaving = track(limiter.acquire(1, controller.signal));
    const staying = track(limiter.acquire(1, never));
    await settle();
    controller.abort(new Error('client left'));
    await settle();
    expect((leaving.error as Error).message).toBe('client left');
    expect(limiter.stats()).toEqual({ inFlight: 1, queued: 1 });
    held.release();
    await settle();
    expect(staying.lease).toBeDefined();
  });

  it('without a cap grants everything at once', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: undefined, maxQueue: 0 });
    await Promise.all(Array.from({ length: 50 }, () => limiter.acquire(4, never)));
    expect(limiter.stats()).toEqual({ inFlight: 200, queued: 0 });
  });

  it('a larger cap set at run time lets waiters in; leases already out still count', async () => {
    const limiter = new ConcurrencyLimiter({ maxConcurrency: 1, maxQueue: 5 });
    const held = await limiter.acquire(1, never);
    const waiting = track(limiter.acquire(1, never));
    await settle();
    limiter.resize({ maxConcurrency: 2, maxQueue: 5 });
    await settle();
    expect(waiting.lease).toBeDefined();
    expect(limiter.stats()).toEqual({ inFlight: 2, queued: 0 });
    limiter.resize({ maxConcurrency: 1, maxQueue: 0 });
    held.release();
    await expect(limiter.acquire(1, never)).rejects.toBeInstanceOf(ChannelBusyError);
  });
});
