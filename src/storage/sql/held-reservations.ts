// The reservations this process made and still holds as far as it knows, with the terms they were
// made on. A settle by the same process (every synchronous request, and a task finished by the worker
// that took it) prices from them instead of reading the row back: a reservation's pricing and facts
// never change once written, and the settle's statement still checks in the database that the row is
// held, so a reservation swept or settled elsewhere meanwhile is decided there, never from memory.
// Bounded: past `limit` the oldest are forgotten, and a settle of a forgotten one reads its row.

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
    const key = keyOf(ref);
    this.#held.delete(key);
    this.#held.set(key, held);
    if (this.#held.size > this.#limit) this.#held.delete(this.#held.keys().next().value as string);
  }

  get(ref: ReservationRef): HeldReservation | undefined {
    return this.#held.get(keyOf(ref));
  }

  /** The reservation, forgotten: its settle, release or hand-over is under way. */
  take(ref: ReservationRef): HeldReservation | undefined {
    const key = keyOf(ref);
    const held = this.#held.get(key);
    if (held !== undefined) this.#held.delete(key);
    return held;
  }

  forget(ref: ReservationRef): void {
    this.#held.delete(keyOf(ref));
  }

  get size(): number {
    return this.#held.size;
  }
}

function keyOf(ref: ReservationRef): string {
  return `${ref.keyId}\u0000${ref.reservationId}`;
}
