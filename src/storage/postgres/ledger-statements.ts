// The task ledger's two moments on PostgreSQL as one statement each (data-modifying CTEs): one round
// trip and an autocommit instead of a transaction of 7–8 round trips (BEGIN … COMMIT), so the key's
// row is locked for that statement and its commit only, and the gateway compiles and sends one query
// instead of seven. The SQL is written out with numbered parameters (no query builder on this path).
//
// A statement is all or nothing, and it cannot roll itself back half-way except by failing. Neither
// moment fails for what happens in operation — a key out of credit, a full queue, a worker that lost
// its task's lease — because a failed statement rolls back the whole batch of the group commit it was
// part of (a key out of credit retrying would do that to every batch). Each writes nothing then and
// says so: every write of the reservation hangs on the guarded debit's row (and on the key's queue
// having room), every write of the settlement on its first write (the task's, fenced by the lease).
// What is rare — a reservation no longer held, a key made unlimited since it was debited — leaves the
// usage row's `key_id` NULL, and the NOT NULL violation (23502) undoes the whole statement. Either way
// the caller falls back to the transaction, which decides those cases exactly as before.

import type { Insertable } from 'kysely';
import type { BillingReservationsTable, BillingUsageTable, TasksTable } from '../sql/schema.js';
import type { Statement } from './prepared-statements.js';

/** Numbered parameters, added as the text is written. */
class Parameters {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value === undefined ? null : value);
    return `$${this.values.length}`;
  }
}

function valuesOf<Row extends object>(parameters: Parameters, row: Row): { columns: string; values: string } {
  const keys = Object.keys(row) as Array<keyof Row & string>;
  return { columns: keys.map((key) => `"${key}"`).join(', '), values: keys.map((key) => parameters.add(row[key])).join(', ') };
}

interface EventRow {
  task_id: string;
  at: number;
  kind: string;
  detail: string;
}

/** How the reservation's debit is taken: a metered key's guarded debit, or (nothing to debit) a check that the key is as read. */
export interface DebitGuard {
  keyId: string;
  priceGroup: string;
  metered: boolean;
  /** Credits debited; 0 for an unlimited key or a free request. */
  amount: number;
}

/** What createReservedStatement answers: one row. */
export interface ReservedOutcome {
  /** The reservation (and the task, its events) written. */
  reserved: boolean;
  /** False when the key's queue was full (nothing written); true, or null without a queue limit. */
  room: boolean | null;
}

/**
 * The task row (when the reservation is a task's), its events and the reservation (its `debited` from
 * the debit) in one statement, which answers one ReservedOutcome row. The debit is guarded by the key
 * as it was read (price group, metered or not) and, when metered, by the balance covering it; every
 * write hangs on the debit's row, so a debit that matched nothing writes nothing (`reserved` false).
 * With `queuedAtMost`, the debit hangs in turn on the key having fewer tasks waiting (counted once, no
 * further than the limit, from the queued-by-key index; the statement's snapshot does not see its own
 * task): a full queue writes nothing (`room` false) — the count rides in the write instead of a round
 * trip of its own before it. A task or reservation that exists already fails the statement with 23505.
 */
export function createReservedStatement(
  task: TasksTable | undefined,
  events: readonly EventRow[],
  reservation: Insertable<BillingReservationsTable>,
  debit: DebitGuard,
  queuedAtMost?: number,
): Statement {
  const parameters = new Parameters();
  const key = parameters.add(debit.keyId);
  const group = parameters.add(debit.priceGroup);
  const ctes: string[] = [];
  const gated = task !== undefined && queuedAtMost !== undefined;
  if (gated) {
    const limit = parameters.add(queuedAtMost);
    ctes.push(`room AS (SELECT count(*) < ${limit} AS open FROM (SELECT 1 FROM tasks WHERE key_id = ${key} AND status = 'queued' LIMIT ${limit}) AS waiting)`);
  }
  const withRoom = gated ? ' AND (SELECT open FROM room)' : '';
  if (debit.metered && debit.amount > 0) {
    const amount = parameters.add(debit.amount);
    ctes.push(`debit AS (UPDATE api_keys SET balance = balance - ${amount} WHERE id = ${key} AND price_group = ${group} AND balance >= ${amount}${withRoom} RETURNING ${amount}::bigint AS amount)`);
  } else {
    ctes.push(`debit AS (SELECT 0::bigint AS amount FROM api_keys WHERE id = ${key} AND price_group = ${group} AND balance IS ${debit.metered ? 'NOT NULL' : 'NULL'}${withRoom})`);
  }
  // INSERT … SELECT takes its parameters' types from the target columns, as VALUES does.
  const { debited: _debited, ...rest } = reservation;
  const reservationValues = valuesOf(parameters, rest);
  ctes.push(`reservation AS (INSERT INTO billing_reservations (${reservationValues.columns}, "debited") SELECT ${reservationValues.values}, amount FROM debit RETURNING 1)`);
  if (task !== undefined) {
    const taskValues = valuesOf(parameters, task);
    ctes.push(`task AS (INSERT INTO tasks (${taskValues.columns}) SELECT ${taskValues.values} WHERE EXISTS (SELECT 1 FROM debit))`);
  }
  if (events.length > 0) {
    const rows = events.map((event) => `(${parameters.add(event.task_id)}::text, ${parameters.add(event.at)}::bigint, ${parameters.add(event.kind)}::text, ${parameters.add(event.detail)}::text)`);
    ctes.push(`events AS (INSERT INTO task_events (task_id, at, kind, detail) SELECT * FROM (VALUES ${rows.join(', ')}) AS event WHERE EXISTS (SELECT 1 FROM debit))`);
  }
  return {
    text: `WITH ${ctes.join(',\n')}\nSELECT EXISTS (SELECT 1 FROM reservation) AS reserved, ${gated ? '(SELECT open FROM room)' : 'NULL::boolean'} AS room`,
    values: parameters.values,
  };
}

/** A task's final write, fenced by its lease: only while `owner` holds the task does it apply. */
export interface TaskFinish {
  id: string;
  owner: string;
  changes: Partial<TasksTable>;
}

/**
 * The task's final write fenced by the lease (when the reservation is a task's), its events, the
 * reservation settled (while held), the usage row and the refund, in one statement, whose row count
 * says whether it applied (1) or wrote nothing (0: the lease, or without a task the held reservation,
 * was not there). A task written whose reservation is not held, or a refund with no metered key to
 * go to, leaves the usage row's key NULL and fails the statement with 23502 (didNotApply).
 */
export function finishSettledStatement(task: TaskFinish | undefined, events: readonly EventRow[], usage: BillingUsageTable, refund: number, now: number): Statement {
  const parameters = new Parameters();
  const ctes: string[] = [];
  if (task !== undefined) {
    const sets = Object.entries(task.changes).map(([column, value]) => `"${column}" = ${parameters.add(value)}`);
    ctes.push(`task AS (UPDATE tasks SET ${sets.join(', ')} WHERE id = ${parameters.add(task.id)} AND lease_owner = ${parameters.add(task.owner)} RETURNING id)`);
  }
  const keyId = parameters.add(usage.key_id);
  ctes.push(
    `settled AS (UPDATE billing_reservations SET status = 'settled', holder = NULL, closed_at = ${parameters.add(now)} WHERE key_id = ${keyId} AND id = ${parameters.add(usage.reservation_id)} AND status = 'held'${task === undefined ? '' : ' AND EXISTS (SELECT 1 FROM task)'} RETURNING key_id)`,
  );
  if (task !== undefined && events.length > 0) {
    const rows = events.map((event) => `(${parameters.add(event.at)}::bigint, ${parameters.add(event.kind)}::text, ${parameters.add(event.detail)}::text)`);
    ctes.push(`events AS (INSERT INTO task_events (task_id, at, kind, detail) SELECT task.id, event.* FROM task, (VALUES ${rows.join(', ')}) AS event)`);
  }
  let usageKey = '(SELECT key_id FROM settled)';
  if (refund > 0) {
    // A key made unlimited meanwhile has no balance to refund to: the transaction writes the refund off.
    ctes.push(`refund AS (UPDATE api_keys SET balance = balance + ${parameters.add(refund)} WHERE id = ${keyId} AND balance IS NOT NULL AND EXISTS (SELECT 1 FROM settled) RETURNING id)`);
    usageKey = '(SELECT key_id FROM settled WHERE EXISTS (SELECT 1 FROM refund))';
  }
  const { key_id: _keyId, ...rest } = usage;
  const usageValues = valuesOf(parameters, rest);
  // Written when the first write was: without it nothing is, and the statement inserts no row.
  const firstWrite = task === undefined ? 'settled' : 'task';
  return {
    text: `WITH ${ctes.join(',\n')}\nINSERT INTO billing_usage (${usageValues.columns}, "key_id") SELECT ${usageValues.values}, ${usageKey} WHERE EXISTS (SELECT 1 FROM ${firstWrite})`,
    values: parameters.values,
  };
}

/** The NOT NULL violation by which finishSettledStatement says its rare case did not apply (and it wrote nothing). */
export function didNotApply(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23502';
}

/** A unique violation: the task or its reservation exists already. */
export function alreadyExists(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}
