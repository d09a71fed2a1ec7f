// The lifecycle of a background polling loop (task workers, webhook deliveries): started once, idle
// between rounds for up to the poll interval, woken early when work is announced, and closed by
// waking it and waiting for the round under way to end.

export interface PollingLoop {
  /** True once close() was called: the body checks it and returns. */
  readonly closed: boolean;
  /** Runs the body in the background; a second call, or one after close(), does nothing. */
  start(): void;
  /** Resolves after `ms`, or as soon as wake() or close() is called meanwhile. */
  idle(ms: number): Promise<void>;
  /**
   * Ends the idle pause under way; while the body is busy, the next pause ends at once instead: the
   * work announced may have arrived just after the body looked (a task queued while the claim was
   * under way), and would otherwise wait a whole interval.
   */
  wake(): void;
  /** Marks the loop closed, wakes it and resolves once the body has returned. */
  close(): Promise<void>;
}

export function createPollingLoop(body: () => Promise<void>): PollingLoop {
  let closed = false;
  let started = false;
  let done: Promise<void> = Promise.resolve();
  let wakeUp: (() => void) | undefined;
  /** wake() was called while nobody idled. */
  let woken = false;
  const wake = (): void => {
    if (wakeUp) wakeUp();
    else woken = true;
  };
  return {
    get closed() {
      return closed;
    },
    start() {
      if (started || closed) return;
      started = true;
      done = body();
    },
    async idle(ms) {
      if (woken) {
        woken = false;
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wakeUp = undefined;
    },
    wake,
    async close() {
      closed = true;
      wake();
      await done;
    },
  };
}
