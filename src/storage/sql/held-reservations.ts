// The reservations this process made and still holds as far as it knows, with the terms they were
// made on. A settle by the same process (every synchronous request, and a task finished by the worker
// that took it) prices from them instead of reading the row back: a reservation's pricing and facts
// never change once written, and the settle's statement still checks in the database that the row is
// held, so a reservation swept or settled elsewhere meanwhile is decided there, never from memory.
// Bounded: past `limit` the oldest are forgotten, and a settle of a forgotten one reads its row.
// Kept by reservation id alone (the request id's string, hashed once for both lookups, where a
// key-and-id string was built and hashed at each): two keys using one id at once (a client's
// X-Request-Id is only a label) share an entry, the later wins, and the other's settle reads its row.

import type { ReservationRef } from '../../core/ports/billing.js';
import type { ReservationRow, ReservationTerms } from './billing.js';

/** A held reservation as its process wrote it, and its pricing and facts as objects (what the row keeps as JSON). */
export interface HeldReservation {
  row: ReservationRow;
  terms: ReservationTerms;
}

const defaultLimit = 10_000;

export class HeldReservations {
  readonly #held = new Map<string, HeldReservation>();
  readonly #limit: number;

  constructor(limit = defaultLimit) {
    this.#limit = limit;
  }

  remember(ref: ReservationRef, held: HeldReservation): void {
    rememberAtMost(this.#held, ref.reservationId, held, this.#limit);
  }

  get(ref: ReservationRef): HeldReservation | undefined {
    const held = this.#held.get(ref.reservationId);
    return held?.row.key_id === ref.keyId ? held : undefined;
  }

  /** The reservation, forgotten: its settle, release or hand-over is under way. */
  take(ref: ReservationRef): HeldReservation | undefined {
    const held = this.get(ref);
    if (held !== undefined) this.#held.delete(ref.reservationId);
    return held;
  }

  forget(ref: ReservationRef): void {
    if (this.get(ref) !== undefined) this.#held.delete(ref.reservationId);
  }
}

/** Sets `key` as the newest entry of `cache`, forgetting the oldest past `limit` (a Map keeps insertion order). */
export function rememberAtMost<Value>(cache: Map<string, Value>, key: string, value: Value, limit: number): void {
  cache.delete(key);
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value as string);
}
