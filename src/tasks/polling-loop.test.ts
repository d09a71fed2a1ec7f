// The polling loops' lifecycle: one body run however often start() is called, a full idle interval
// when nothing happens, cut short by wake(), and a close() that waits for the body to return.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPollingLoop } from './polling-loop.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** Whether `promise` has settled once the microtasks queued so far have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  for (let turn = 0; turn < 5; turn += 1) await Promise.resolve();
  return done;
}

describe('createPollingLoop', () => {
  it('runs the body once, however often it is started, and never after close()', async () => {
    let runs = 0;
    const loop = createPollingLoop(async () => {
      runs += 1;
    });
    loop.start();
    loop.start();
    expect(runs).toBe(1);
    await loop.close();
    loop.start();
    expect(runs).toBe(1);

    const neverStarted = createPollingLoop(async () => {
      runs += 1;
    });
    await neverStarted.close();
    neverStarted.start();
    expect(runs).toBe(1);
  });

  it('idles the whole interval when nobody wakes it', async () => {
    const loop = createPollingLoop(async () => undefined);
    const pause = loop.idle(1_000);
    await vi.advanceTimersByTimeAsync(999);
    expect(await settled(pause)).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await settled(pause)).toBe(true);
  });

  it('ends the pause at once on wake(); a wake() while nobody idles (the body busy looking) ends the next pause, once', async () => {
    const loop = createPollingLoop(async () => undefined);
    const pause = loop.idle(60_000);
    expect(await settled(pause)).toBe(false);
    loop.wake();
    expect(await settled(pause)).toBe(true);
    expect(vi.getTimerCount()).toBe(0);

    loop.wake();
    loop.wake();
    expect(await settled(loop.idle(60_000))).toBe(true);
    const next = loop.idle(100);
    expect(await settled(next)).toBe(false);
    await vi.advanceTimersByTimeAsync(100);
    expect(await settled(next)).toBe(true);
  });

  it('closes by waking the idle body and waiting until it has returned', async () => {
    let rounds = 0;
    const loop = createPollingLoop(async () => {
      while (!loop.closed) {
        rounds += 1;
        await loop.idle(60_000);
      }
    });
    loop.start();
    expect(loop.closed).toBe(false);
    const closing = loop.close();
    expect(loop.closed).toBe(true);
    expect(await settled(closing)).toBe(true);
    expect(rounds).toBe(1);
  });
});
