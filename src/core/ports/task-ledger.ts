// A task's two billing moments written together with the task itself, as one durable unit (one
// transaction, or one unit of SQLite's group commit): its submission (the reservation, held by the task
// from the start, and the task row) and its success (the task's final state, fenced by the lease, and
// the settlement). Both or neither: no hand-over step after the task row, no window in which a crash
// leaves a reservation for the sweep or a charge without its result, and on PostgreSQL one commit per
// moment instead of three (reserve, create, hand over) and two (settle, final write). `events`: the
// timeline rows that describe the write (queued; stored, succeeded), in the same transaction — on
// PostgreSQL a commit fewer again, and they are written exactly when the write they describe is.

import type { ReservationRef, ReservationRequest, Settlement } from './billing.js';
import type { TaskEvent } from './task-events.js';
import { GatewayError } from '../errors.js';
import type { TaskPatch, TaskRecord } from './task-store.js';

export interface TaskLedger {
  /**
   * Creates `task` and reserves `reservation` (its id the task's), held by the task rather than by this
   * process — as if handed over at once. Both or neither; throws as Billing.reserve and TaskStore.create do.
   * `queuedAtMost`: the most tasks its key may have waiting; a key that has that many already gets
   * `queueFullError` and nothing is written (checked in the same write, not by a query of its own).
   */
  createReserved(task: TaskRecord, reservation: ReservationRequest, events?: readonly TaskEvent[], queuedAtMost?: number): Promise<void>;
  /**
   * While `owner` still holds the task's lease: writes `patch` (its final state) and settles
   * `reservation` (as Billing.settle: a no-op when already settled or released), together. False, and
   * nothing written, once the lease is lost.
   */
  finishSettled(taskId: string, owner: string, patch: TaskPatch, reservation: ReservationRef, settlement: Settlement, events?: readonly TaskEvent[]): Promise<boolean>;
}

/** A submission refused because its key already has `queued` tasks waiting, the most allowed. */
export function queueFullError(queued: number): GatewayError {
  return new GatewayError('rate_limit_exceeded', `This key already has ${queued} tasks waiting, the most allowed. Wait for some to start, then submit again.`, {
    retryAfterSeconds: 5,
  });
}
