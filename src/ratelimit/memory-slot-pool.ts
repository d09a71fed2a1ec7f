// The in-process SlotPool: counters in a map, for a single gateway process.

import type { SlotLease, SlotPool } from '../core/ports/slot-pool.js';

export function createMemorySlotPool(): SlotPool {
  const held = new Map<string, number>();
  return {
    async tryAcquire(name, limit, permits) {
      const current = held.get(name) ?? 0;
      if (current + permits > limit) return undefined;
      held.set(name, current + permits);
      let released = false;
      const lease: SlotLease = {
        release() {
          if (released) return;
          released = true;
          const left = (held.get(name) ?? permits) - permits;
          if (left > 0) held.set(name, left);
          else held.delete(name);
        },
      };
      return lease;
    },
    async held(name) {
      return held.get(name) ?? 0;
    },
  };
}
