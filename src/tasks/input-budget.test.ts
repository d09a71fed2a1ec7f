// The budget of input bytes running tasks hold: who runs at once, in what order, and what a cancel does.

import { describe, expect, it } from 'vitest';
import { InputBudget } from './input-budget.js';

/** Whether a promise has settled by the end of this turn's microtasks. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

describe('InputBudget', () => {
  it('lets tasks in while their bytes fit, and the next one once enough is released', async () => {
    const budget = new InputBudget(100);
    const first = await budget.acquire(60);
    const second = await budget.acquire(40);
    expect(budget.heldBytes).toBe(100);
    const third = budget.acquire(30);
    expect(await settled(third)).toBe(false);
    second();
    expect(await settled(third)).toBe(true);
    expect(budget.heldBytes).toBe(90);
    first();
    (await third)();
    expect(budget.heldBytes).toBe(0);
  });

  it('serves waiters in order: a large one is not passed over by smaller ones that would fit', async () => {
    const budget = new InputBudget(100);
    const held = await budget.acquire(50);
    const large = budget.acquire(80);
    const small = budget.acquire(10);
    expect(await settled(large)).toBe(false);
    // 10 bytes would fit beside the 50 held, but the large task asked first.
    expect(await settled(small)).toBe(false);
    held();
    expect(await settled(large)).toBe(true);
    expect(await settled(small)).toBe(true);
    expect(budget.heldBytes).toBe(90);
  });

  it('runs a task larger than the whole budget alone, once nothing else holds any of it', async () => {
    const budget = new InputBudget(100);
    const held = await budget.acquire(10);
    const huge = budget.acquire(500);
    expect(await settled(huge)).toBe(false);
    held();
    const releaseHuge = await huge;
    expect(budget.heldBytes).toBe(500);
    const next = budget.acquire(1);
    expect(await settled(next)).toBe(false);
    releaseHuge();
    expect(await settled(next)).toBe(true);
  });

  it('stops waiting when the task is canceled, with the cancel as the reason, and lets the next one in', async () => {
    const budget = new InputBudget(100);
    const held = await budget.acquire(70);
    const controller = new AbortController();
    const canceled = budget.acquire(50, controller.signal);
    const behind = budget.acquire(30);
    expect(await settled(behind)).toBe(false);
    const reason = new Error('canceled by the client');
    controller.abort(reason);
    await expect(canceled).rejects.toBe(reason);
    // The one behind fits beside the 70 held once the canceled one left the line.
    expect(await settled(behind)).toBe(true);
    expect(budget.heldBytes).toBe(100);
    held();
    await expect(budget.acquire(1, controller.signal)).rejects.toBe(reason);
  });

  it('lets a task without input images run at once, even while others wait for room', async () => {
    const budget = new InputBudget(100);
    const held = await budget.acquire(90);
    const waiting = budget.acquire(50);
    expect(await settled(waiting)).toBe(false);
    const generation = budget.acquire(0);
    expect(await settled(generation)).toBe(true);
    (await generation)();
    expect(budget.heldBytes).toBe(90);
    held();
    expect(await settled(waiting)).toBe(true);
  });

  it('releases once however often the release is called', async () => {
    const budget = new InputBudget(100);
    const release = await budget.acquire(40);
    release();
    release();
    expect(budget.heldBytes).toBe(0);
    await budget.acquire(100);
    expect(budget.heldBytes).toBe(100);
  });
});
