// Counted slots shared by everyone who uses the same pool: concurrent requests per API key and
// upstream calls in flight per channel. In one process a map; across replicas Redis, where a slot is
// a lease that its holder renews, so the slots of a process that died come back on their own.

export interface SlotLease {
  /** Gives the slots back; safe to call more than once. */
  release(): void;
}

export interface SlotPool {
  /** Takes `permits` of the `limit` slots called `name`, or answers undefined when that many are not free. */
  tryAcquire(name: string, limit: number, permits: number): Promise<SlotLease | undefined>;
  /** How many slots of `name` are held now (admin views and tests). */
  held(name: string): Promise<number>;
}
