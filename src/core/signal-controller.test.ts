import { describe, expect, it } from 'vitest';
import { SignalController } from './signal-controller.js';

/** What a consumer of a signal can observe, as a trace, driven the same way for either controller. */
function observe(controller: { signal: AbortSignal; abort(reason?: unknown): void }, abortWith: unknown[]): string[] {
  const trace: string[] = [];
  const { signal } = controller;
  trace.push(`aborted=${signal.aborted} reason=${String(signal.reason)}`);
  signal.onabort = (event) => trace.push(`onabort ${event.type}`);
  const removed = () => trace.push('removed listener');
  signal.addEventListener('abort', (event) => trace.push(`first ${event.type} aborted=${signal.aborted}`));
  signal.addEventListener('abort', removed);
  signal.addEventListener('abort', () => trace.push('once'), { once: true });
  signal.addEventListener('abort', { handleEvent: () => trace.push('listener object') });
  signal.removeEventListener('abort', removed);
  for (const reason of abortWith) {
    if (reason === 'default') controller.abort();
    else controller.abort(reason);
  }
  signal.addEventListener('abort', () => trace.push('added after the abort'));
  try {
    signal.throwIfAborted();
    trace.push('did not throw');
  } catch (error) {
    trace.push(`threw ${error instanceof DOMException ? `${error.name}: ${error.message}` : String(error)}`);
  }
  trace.push(`aborted=${signal.aborted} reason=${signal.reason instanceof DOMException ? signal.reason.name : String(signal.reason)}`);
  return trace;
}

describe('SignalController', () => {
  it.each([
    ['never aborted', []],
    ['aborted with a reason', ['client gone']],
    ['aborted twice: the first reason stays and listeners run once', ['first', 'second']],
    ['aborted without a reason', ['default']],
  ])('is observed as an AbortController is: %s', (_name, abortWith) => {
    expect(observe(new SignalController(), abortWith)).toEqual(observe(new AbortController(), abortWith));
  });

  it('runs onabort and the listeners in order with an abort event, and throws the reason once aborted', () => {
    const trace = observe(new SignalController(), [new Error('gone')]);
    expect(trace).toEqual([
      'aborted=false reason=undefined',
      'onabort abort',
      'first abort aborted=true',
      'once',
      'listener object',
      'threw Error: gone',
      'aborted=true reason=Error: gone',
    ]);
  });

  it('gives the AbortError DOMException as the reason when none is given', () => {
    const controller = new SignalController();
    controller.abort();
    expect(controller.signal.reason).toBeInstanceOf(DOMException);
    expect((controller.signal.reason as DOMException).name).toBe('AbortError');
    expect(() => controller.signal.throwIfAborted()).toThrow('This operation was aborted');
  });

  it('is an EventTarget, so code waiting on the abort event works unchanged', async () => {
    const controller = new SignalController();
    const aborted = new Promise((resolve) => controller.signal.addEventListener('abort', () => resolve(controller.signal.reason), { once: true }));
    setTimeout(() => controller.abort('late'), 5);
    await expect(aborted).resolves.toBe('late');
    expect(controller.signal).toBeInstanceOf(EventTarget);
  });
});
