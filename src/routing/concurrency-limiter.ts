// Caps a channel's upstream calls in flight. Requests beyond the cap wait in a bounded first-come
// queue; when the queue is full the caller is told at once, so the router can try another channel.

export interface ConcurrencyLease {
  /** Gives the slots back; safe to call more than once. */
  release(): void;
}

export interface ConcurrencyLimiterOptions {
  /** Upstream calls in flight at once; undefined: unlimited. */
  maxConcurrency: number | undefined;
  /** Requests allowed to wait; 0 means none wait. */
  maxQueue: number;
}

export interface ConcurrencyStats {
  inFlight: number;
  queued: number;
}

/** Thrown by acquire when the queue is full: the channel is busy, not broken. */
export class ChannelBusyError extends Error {
  constructor() {
    super('The channel is at its concurrency limit and its queue is full');
    this.name = 'ChannelBusyError';
  }
}

interface Waiter {
  permits: number;
  grant: () => void;
}

export class ConcurrencyLimiter {
  #max: number | undefined;
  #maxQueue: number;
  #inFlight = 0;
  readonly #queue: Waiter[] = [];

  constructor(options: ConcurrencyLimiterOptions) {
    this.#max = options.maxConcurrency;
    this.#maxQueue = options.maxQueue;
  }

  /**
   * Takes `permits` slots (one per upstream call a request makes, at most the cap), waiting in line
   * when they are not free. Rejects with ChannelBusyError when the line is full, and with the
   * signal's reason when the caller gives up while waiting.
   */
  acquire(permits: number, signal: AbortSignal): Promise<ConcurrencyLease> {
    signal.throwIfAborted();
    const wanted = this.#max === undefined ? permits : Math.max(1, Math.min(permits, this.#max));
    // Nobody jumps the line: a request may start at once only when no one is waiting.
    if (this.#queue.length === 0 && this.#fits(wanted)) return Promise.resolve(this.#take(wanted));
    if (this.#queue.length >= this.#maxQueue) return Promise.reject(new ChannelBusyError());
    return new Promise<ConcurrencyLease>((resolve, reject) => {
      const waiter: Waiter = {
        permits: wanted,
        grant: () => {
          signal.removeEventListener('abort', onAbort);
          resolve(this.#take(wanted));
        },
      };
      const onAbort = () => {
        const index = this.#queue.indexOf(waiter);
        if (index >= 0) this.#queue.splice(index, 1);
        reject(signal.reason);
        // A large request leaving the head of the line may let smaller ones start.
        this.#drain();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(waiter);
    });
  }

  /** Changes the limits in place: leases already out stay valid and are counted against the new cap. */
  resize(options: ConcurrencyLimiterOptions): void {
    this.#max = options.maxConcurrency;
    this.#maxQueue = options.maxQueue;
    for (const waiter of this.#queue) waiter.permits = this.#max === undefined ? waiter.permits : Math.max(1, Math.min(waiter.permits, this.#max));
    this.#drain();
  }

  stats(): ConcurrencyStats {
    return { inFlight: this.#inFlight, queued: this.#queue.length };
  }

  #fits(permits: number): boolean {
    return this.#max === undefined || this.#inFlight + permits <= this.#max;
  }

  #take(permits: number): ConcurrencyLease {
    this.#inFlight += permits;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight -= permits;
        this.#drain();
      },
    };
  }

  #drain(): void {
    while (this.#queue.length > 0) {
      const head = this.#queue[0];
      if (head === undefined || !this.#fits(head.permits)) return;
      this.#queue.shift();
      head.grant();
    }
  }
}
