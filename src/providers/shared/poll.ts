// Polls an asynchronous upstream job until it is done, the caller aborts, or the time limit passes.

import { GatewayError } from '../../core/errors.js';

export type PollStepResult<T> = { done: true; value: T } | { done: false; progress?: number };

export interface PollOptions {
  /** Pause between two steps. */
  intervalMs: number;
  /** Give up (upstream_timeout) when the job is not done this long after polling started. */
  timeoutMs: number;
  /** Aborting stops polling at once: no further step runs, and the abort reason is thrown. */
  signal: AbortSignal;
  /** Progress 0-100, when the upstream reports it. */
  onProgress?: (percent: number) => void;
  /** Named in the timeout error. */
  provider: string;
}

export async function pollUntilDone<T>(step: () => Promise<PollStepResult<T>>, options: PollOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    options.signal.throwIfAborted();
    const result = await step();
    // A step that finished after the abort does not count: the caller has already moved on.
    options.signal.throwIfAborted();
    if (result.done) return result.value;
    if (result.progress !== undefined && Number.isFinite(result.progress)) {
      options.onProgress?.(Math.min(100, Math.max(0, result.progress)));
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      throw new GatewayError('upstream_timeout', `${options.provider} did not finish the job within ${formatDuration(options.timeoutMs)}`);
    }
    // The last pause ends at the deadline, so the final step looks at the job just before giving up.
    await sleep(Math.min(options.intervalMs, remaining), options.signal);
  }
}

/** Resolves after `ms`; rejects with the abort reason as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function formatDuration(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}
