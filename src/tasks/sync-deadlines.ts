// The synchronous time limit without a timer per request: waiting requests sit in one Map in the order
// they started (every request of a service has the same limit, so that is also the order of their
// deadlines), and one interval, running only while something waits, ends the waits that are due.
// A request that finishes in time costs a Map insert and delete instead of a timer, a second promise
// and a race. The limit is honoured to within one tick (a twentieth of the limit, at most 1 s).

export type SyncRace<T> = { done: true; outcome: T } | { done: true; error: unknown } | { done: false };

export interface SyncDeadlines {
  /** Settles with the work's outcome, or with `done: false` once `limitMs` passed first. */
  race<T>(work: Promise<T>, limitMs: number): Promise<SyncRace<T>>;
}

interface Waiting {
  deadline: number;
  expire(): void;
}

export function createSyncDeadlines(): SyncDeadlines {
  const waiting = new Map<number, Waiting>();
  let sequence = 0;
  let ticker: NodeJS.Timeout | undefined;

  const tick = (): void => {
    const now = performance.now();
    for (const [id, entry] of waiting) {
      // Started later, due later: nothing after this one is due either.
      if (entry.deadline > now) break;
      waiting.delete(id);
      entry.expire();
    }
    if (waiting.size === 0) {
      clearInterval(ticker);
      ticker = undefined;
    }
  };

  return {
    race<T>(work: Promise<T>, limitMs: number): Promise<SyncRace<T>> {
      return new Promise<SyncRace<T>>((resolve) => {
        const id = (sequence += 1);
        waiting.set(id, { deadline: performance.now() + limitMs, expire: () => resolve({ done: false }) });
        if (ticker === undefined) {
          ticker = setInterval(tick, Math.min(1000, Math.max(5, Math.floor(limitMs / 20))));
          // The requests themselves keep the process alive, not their deadline.
          ticker.unref();
        }
        work.then(
          (outcome) => {
            waiting.delete(id);
            resolve({ done: true, outcome });
          },
          (error: unknown) => {
            waiting.delete(id);
            resolve({ done: true, error });
          },
        );
      });
    },
  };
}
