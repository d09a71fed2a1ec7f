// Polling behaviour: completion, progress, abort and timeout.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { pollUntilDone, type PollStepResult } from './poll.js';

/** A step that answers from a script, then keeps answering the last entry; counts its calls. */
function scriptedStep<T>(script: PollStepResult<T>[]): { step: () => Promise<PollStepResult<T>>; calls: () => number } {
  let calls = 0;
  return {
    step: async () => {
      const answer = script[Math.min(calls, script.length - 1)];
      calls += 1;
      if (answer === undefined) throw new Error('empty script');
      return answer;
    },
    calls: () => calls,
  };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

describe('pollUntilDone', () => {
  it('polls until the job is done and returns its value', async () => {
    const { step, calls } = scriptedStep<string>([{ done: false }, { done: false }, { done: true, value: 'image-url' }]);
    const value = await pollUntilDone(step, { intervalMs: 1, timeoutMs: 5_000, signal: new AbortController().signal, provider: 'bfl' });
    expect(value).toBe('image-url');
    expect(calls()).toBe(3);
  });

  it('reports progress, kept within 0-100', async () => {
    const { step } = scriptedStep<number>([{ done: false, progress: 10 }, { done: false }, { done: false, progress: 150 }, { done: true, value: 1 }]);
    const seen: number[] = [];
    await pollUntilDone(step, {
      intervalMs: 1,
      timeoutMs: 5_000,
      signal: new AbortController().signal,
      provider: 'replicate',
      onProgress: (percent) => seen.push(percent),
    });
    expect(seen).toEqual([10, 100]);
  });

  it('stops at once when aborted while waiting, with the abort reason, and polls no more', async () => {
    const controller = new AbortController();
    const { step, calls } = scriptedStep<string>([{ done: false }]);
    const reason = new Error('client went away');
    const pending = pollUntilDone(step, { intervalMs: 60_000, timeoutMs: 600_000, signal: controller.signal, provider: 'fal' });
    setTimeout(() => controller.abort(reason), 10);
    expect(await rejection(pending)).toBe(reason);
    expect(calls()).toBe(1);
  });

  it('does not poll again when aborted during a step', async () => {
    const controller = new AbortController();
    let calls = 0;
    const step = async (): Promise<PollStepResult<string>> => {
      calls += 1;
      controller.abort();
      return { done: false };
    };
    const error = await rejection(pollUntilDone(step, { intervalMs: 1, timeoutMs: 5_000, signal: controller.signal, provider: 'fal' }));
    expect((error as Error).name).toBe('AbortError');
    expect(calls).toBe(1);
  });

  it('ignores a result that arrives after the abort', async () => {
    const controller = new AbortController();
    const step = async (): Promise<PollStepResult<string>> => {
      controller.abort();
      return { done: true, value: 'too late' };
    };
    const error = await rejection(pollUntilDone(step, { intervalMs: 1, timeoutMs: 5_000, signal: controller.signal, provider: 'fal' }));
    expect((error as Error).name).toBe('AbortError');
  });

  it('never calls the step when the signal is already aborted', async () => {
    const { step, calls } = scriptedStep<string>([{ done: true, value: 'x' }]);
    await rejection(pollUntilDone(step, { intervalMs: 1, timeoutMs: 5_000, signal: AbortSignal.abort(), provider: 'bfl' }));
    expect(calls()).toBe(0);
  });

  it('throws upstream_timeout naming the provider when the job is not done in time', async () => {
    const { step, calls } = scriptedStep<string>([{ done: false }]);
    const error = await rejection(pollUntilDone(step, { intervalMs: 5, timeoutMs: 40, signal: new AbortController().signal, provider: 'midjourney' }));
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('upstream_timeout');
    expect((error as GatewayError).status).toBe(504);
    expect((error as GatewayError).message).toContain('midjourney');
    expect(calls()).toBeGreaterThan(1);
  });

  it('lets an error from a step through without polling again', async () => {
    let calls = 0;
    const failure = new GatewayError('upstream_error', 'job failed upstream');
    const step = async (): Promise<PollStepResult<string>> => {
      calls += 1;
      throw failure;
    };
    expect(await rejection(pollUntilDone(step, { intervalMs: 1, timeoutMs: 5_000, signal: new AbortController().signal, provider: 'bfl' }))).toBe(failure);
    expect(calls).toBe(1);
  });
});
