// The bytes of input images that running tasks may hold in memory at once, per process. A worker
// reads a task's input images back from the blob store before its upstream call and keeps them until
// the task ends; with `tasks.workers` per channel (32 by default) a key submitting many large edits
// would otherwise hold that many times its inputs (each up to the body limit). Tasks wait for room in
// the order they asked, so a large one is not passed over for ever by small ones; a task larger than
// the whole budget runs when nothing else holds any of it.

import { GatewayError } from '../core/errors.js';

/** tasks.max_input_mb's default: four requests at the 64 MB body limit, or dozens of ordinary edits. */
export const defaultInputBudgetBytes = 256 * 1024 * 1024;

interface Waiter {
  bytes: number;
  grant(): void;
}

export class InputBudget {
  readonly #limitBytes: number;
  #heldBytes = 0;
  #holders = 0;
  readonly #waiting: Waiter[] = [];

  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /** Bytes held by running tasks now (for tests and diagnostics). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /**
   * Resolves with the release once `bytes` fit (at once when they do and nobody waits before), or
   * rejects with the signal's reason when it aborts first. Release exactly once.
   */
  acquire(bytes: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    // A task without input images (every generation) holds nothing: it never waits behind large edits.
    if (bytes === 0) return Promise.resolve(holdsNothing);
    if (this.#waiting.length === 0 && this.#fits(bytes)) return Promise.resolve(this.#take(bytes));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.#take(bytes));
        },
      };
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(waiter);
        if (index >= 0) this.#waiting.splice(index, 1);
        reject(abortReason(signal as AbortSignal));
        // The head of the line may fit now that this one no longer stands before it.
        this.#grantWaiting();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiting.push(waiter);
    });
  }

  #fits(bytes: number): boolean {
    return this.#holders === 0 || this.#heldBytes + bytes <= this.#limitBytes;
  }

  #take(bytes: number): () => void {
    this.#heldBytes += bytes;
    this.#holders += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#heldBytes -= bytes;
      this.#holders -= 1;
      this.#grantWaiting();
    };
  }

  #grantWaiting(): void {
    while (this.#waiting.length > 0 && this.#fits((this.#waiting[0] as Waiter).bytes)) (this.#waiting.shift() as Waiter).grant();
  }
}

const holdsNothing = (): void => undefined;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new GatewayError('server_error', 'The task stopped while it waited for memory for its input images.');
}
