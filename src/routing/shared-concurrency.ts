// A channel's concurrency cap held across replicas: this process's own limiter first (its bounded
// first-come queue decides who goes next here, and "queue full" still moves a request to another
// channel), then a slot from the shared pool. While the other replicas hold every shared slot the
// request keeps its local place and asks again, backing off up to a quarter second, until a slot
// frees, the caller gives up, or a holder's lease runs out (a dead replica's slots come back).
// Should the shared pool fail (Redis down), the local cap alone applies.

import type { SlotPool } from '../core/ports/slot-pool.js';
import type { ConcurrencyLease, ConcurrencyLimiter } from './concurrency-limiter.js';

export interface SharedConcurrencyOptions {
  local: ConcurrencyLimiter;
  pool: SlotPool;
  /** The pool's name for this channel. */
  name: string;
  /** The channel's cap now (it can change at run time); undefined: unlimited, nothing shared. */
  maxConcurrency(): number | undefined;
  onPoolError?: (error: unknown) => void;
}

const firstWaitMs = 20;
const longestWaitMs = 250;

export function sharedConcurrency(options: SharedConcurrencyOptions): { acquire(permits: number, signal: AbortSignal): Promise<ConcurrencyLease> } {
  return {
    async acquire(permits, signal) {
      const local = await options.local.acquire(permits, signal);
      let wait = firstWaitMs;
      for (;;) {
        const max = options.maxConcurrency();
        if (max === undefined) return local;
        let shared;
        try {
          shared = await options.pool.tryAcquire(options.name, max, Math.max(1, Math.min(permits, max)));
        } catch (error) {
          options.onPoolError?.(error);
          return local;
        }
        if (shared !== undefined) {
          const lease = shared;
          return {
            release() {
              lease.release();
              local.release();
            },
          };
        }
        try {
          await delay(wait, signal);
        } catch (error) {
          local.release();
          throw error;
        }
        wait = Math.min(longestWaitMs, wait * 2);
      }
    },
  };
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
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
