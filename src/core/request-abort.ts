// The one abort controller of a request: the client leaving aborts the work, until the work is handed
// over to a task (past the synchronous limit), after which only a task cancel may stop it. One
// controller serves the HTTP layer, the synchronous runner and the provider call alike, instead of
// one per layer chained by listeners.

import { SignalController } from './signal-controller.js';

export interface RequestAbort {
  readonly signal: AbortSignal;
  /** The client went away: aborts the work unless it was handed over. */
  clientGone(reason: unknown): void;
  /** From now on the client's leaving no longer aborts the work (it became a task). */
  detachFromClient(): void;
  /** Aborts the work whatever the client does (a task cancel). */
  abort(reason: unknown): void;
}

export function createRequestAbort(): RequestAbort {
  // Not an AbortController: made once per request, Node's signals slow every scavenge (./signal-controller.ts).
  const controller = new SignalController();
  let detached = false;
  return {
    signal: controller.signal,
    clientGone(reason) {
      if (!detached) controller.abort(reason);
    },
    detachFromClient() {
      detached = true;
    },
    abort(reason) {
      controller.abort(reason);
    },
  };
}
