// The Billing port on SQLite. Reserve debits the estimate atomically, settle charges what was
// delivered and refunds the rest, release refunds in full; all three, the hand-over to a task and the
// sweep run as prepared statements in group-committed transactions (./group-commit.ts): many
// requests share one BEGIN IMMEDIATE … COMMIT, and each caller's promise resolves once its batch is
// on disk. Inside a batch the units run one after another on the one connection, and across
// processes BEGIN IMMEDIATE serialises the batches, so a balance can never be overdrawn and a repeated
// settle or release changes nothing. Reservations are keyed by (key, id): a client's request id is a
// label, never a global key another tenant could collide with.
//
// Crash recovery: every reservation names the process holding it (`holder`) until a task takes it
// over. Each process keeps a lease row in gateway_processes alive; sweepAbandoned returns what
// processes whose lease lapsed still hold. The rows, the settle's arithmetic and the queries off the
// hot path are shared with PostgreSQL (../sql/billing.ts); the hot path's statements stay here.

import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { sql, type Kysely } from 'kysely';
import { GatewayError } from '../../core/errors.js';
import type { ReservationRef, ReservationRequest, Settlement } from '../../core/ports/billing.js';
import type { Clock } from '../../core/ports/clock.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { queueFullError, type TaskLedger } from '../../core/ports/task-ledger.js';
import type { BillingStore, SweepOptions } from '../../core/ports/billing-store.js';
import type { PriceBook } from '../../billing/price-book.js';
import { insufficientQuotaError, reservationConflictError, reservationFacts } from '../../billing/reservation-charge.js';
import { collectableExtra, forgetProcessesAfterMs, newReservation, planSettlement, SqlBillingBooks, sweepBatch, usageRow, type KeyBalance, type ReservationRow, type ReservationTerms } from '../sql/billing.js';
import { HeldReservations, type HeldReservation } from '../sql/held-reservations.js';
import type { SqliteDatabase } from './database.js';
import { GroupCommit } from './group-commit.js';
import { SqliteTaskStore } from './task-store.js';
import { SqliteTaskEventStore } from './task-event-store.js';

type Connection = Kysely<DatabaseSchema>;

/**
 * Runs `work` in a BEGIN IMMEDIATE transaction on the database's one connection: the write lock is
 * taken before anything is read, so a read-then-write can never interleave with another writer.
 * (The admin path: top-ups and metering switches, rare enough for the query builder.)
 */
async function immediate<T>(db: Connection, work: (connection: Connection) => Promise<T>): Promise<T> {
  return db.connection().execute(async (connection) => {
    await sql`BEGIN IMMEDIATE`.execute(connection);
    try {
      const result = await work(connection);
      await sql`COMMIT`.execute(connection);
      return result;
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => undefined);
      throw error;
    }
  });
}

type ReservationValues = [
  key_id: string, id: string, model: string, operation: string, images_requested: number, size: string, quality: string | null, price_group: string,
  pricing: string, facts: string, estimated: number, debited: number, status: string, holder: string | null, created_at: number, closed_at: number | null,
];
type UsageValues = [
  key_id: string, reservation_id: string, model: string, operation: string, provider: string | null, channel: string | null, images_requested: number,
  images_delivered: number, size: string, quality: string | null, price_group: string, unit: string, unit_price: number, input_text_tokens: number | null,
  input_image_tokens: number | null, output_tokens: number | null, amount: number, metered: number, detail: string, created_at: number,
];

/** The hot path's statements, prepared once. */
function prepareStatements(native: Database.Database) {
  return {
    key: native.prepare<[string], KeyBalance>('SELECT balance, price_group FROM api_keys WHERE id = ?'),
    // Positional parameters: binding sixteen named ones from an object costs about 1 µs more per row.
    insertReservation: native.prepare<ReservationValues>(
      `INSERT INTO billing_reservations
         (key_id, id, model, operation, images_requested, size, quality, price_group, pricing, facts, estimated, debited, status, holder, created_at, closed_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
    ),
    // A refused reservation's row, taken back in its own unit (which runs without a savepoint).
    forgetReservation: native.prepare<[string, string]>('DELETE FROM billing_reservations WHERE key_id = ? AND id = ?'),
    // The one statement that guards a balance: it debits only when the balance covers the whole
    // amount, so under any concurrency a balance can reach zero but never pass it.
    debit: native.prepare<[number, string, number]>('UPDATE api_keys SET balance = balance - ? WHERE id = ? AND balance >= ?'),
    // No change when the key is unlimited (NULL balance) or gone: the caller writes the credits off.
    credit: native.prepare<[number, string]>('UPDATE api_keys SET balance = balance + ? WHERE id = ? AND balance IS NOT NULL'),
    writeOff: native.prepare<[string, number, string, number]>("INSERT INTO billing_ledger (key_id, kind, amount, note, created_at) VALUES (?, 'writeoff', ?, ?, ?)"),
    // A settle's read and close of a held reservation in one statement: the row comes back as it was
    // before the close (status 'held'; holder as closed, which a settle does not read).
    settleHeld: native.prepare<[number, string, string], ReservationRow>(
      `UPDATE billing_reservations SET status = 'settled', holder = NULL, closed_at = ? WHERE key_id = ? AND id = ? AND status = 'held'
       RETURNING key_id, id, model, operation, images_requested, size, quality, price_group, pricing, facts, estimated, debited, 'held' AS status, holder, created_at, closed_at`,
    ),
    // The same close when this process still has the row it wrote: nothing read back (the RETURNING of
    // sixteen columns, two of them JSON to parse again, was a third of a settle).
    closeHeld: native.prepare<[number, string, string]>(
      "UPDATE billing_reservations SET status = 'settled', holder = NULL, closed_at = ? WHERE key_id = ? AND id = ? AND status = 'held'",
    ),
    swept: native.prepare<[string, string], ReservationRow>("SELECT * FROM billing_reservations WHERE key_id = ? AND id = ? AND status = 'swept'"),
    held: native.prepare<[string, string], ReservationRow>("SELECT * FROM billing_reservations WHERE key_id = ? AND id = ? AND status = 'held'"),
    close: native.prepare<[string, number, string, string]>('UPDATE billing_reservations SET status = ?, holder = NULL, closed_at = ? WHERE key_id = ? AND id = ?'),
    handOver: native.prepare<[string, string]>("UPDATE billing_reservations SET holder = NULL WHERE key_id = ? AND id = ? AND status = 'held'"),
    insertUsage: native.prepare<UsageValues>(
      `INSERT INTO billing_usage
         (key_id, reservation_id, model, operation, provider, channel, images_requested, images_delivered, size, quality, price_group, unit, unit_price,
          input_text_tokens, input_image_tokens, output_tokens, amount, metered, detail, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    renewLease: native.prepare<[string, number, number]>(
      'INSERT INTO gateway_processes (id, started_at, lease_expires_at) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET lease_expires_at = excluded.lease_expires_at',
    ),
    endLease: native.prepare<[string]>('DELETE FROM gateway_processes WHERE id = ?'),
    forgetProcesses: native.prepare<[number]>('DELETE FROM gateway_processes WHERE lease_expires_at < ?'),
    abandoned: native.prepare<[number, number, number], ReservationRow>(
      `SELECT * FROM billing_reservations AS reservation
        WHERE status = 'held' AND holder IS NOT NULL AND created_at <= ?
          AND NOT EXISTS (SELECT 1 FROM gateway_processes AS process WHERE process.id = reservation.holder AND process.lease_expires_at > ?)
        LIMIT ?`,
    ),
  };
}

export interface SqliteBillingOptions {
  database: Pick<SqliteDatabase, 'db' | 'native' | 'lock'>;
  prices: PriceBook;
  clock: Clock;
  /** Names this process in reservation rows and its lease; unique per process by default. */
  processId?: string;
  /** The database's group commit, shared with the task store so their writes share transactions (a private one by default). */
  batches?: GroupCommit;
  /** The task store on the same database and group commit, whose rows the task ledger writes (one unit per task moment); its own by default. */
  tasks?: SqliteTaskStore;
  /** The task timeline on the same database: the ledger writes a moment's events in its unit; its own by default. */
  taskEvents?: SqliteTaskEventStore;
}

/**
 * How the billing units run in the group commit: every refusal is decided before the unit writes
 * (see RunOptions), so they need no savepoint of their own.
 */
const refusalsFirst = { savepoint: 'refusals-first' } as const;

export class SqliteBilling extends SqlBillingBooks implements BillingStore {
  readonly #prices: PriceBook;
  readonly #processId: string;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #batches: GroupCommit;
  /** The reservations this process holds, as it wrote them: its settles price from these instead of reading the row back. */
  readonly #held = new HeldReservations();
  readonly taskLedger: TaskLedger;

  constructor(options: SqliteBillingOptions) {
    const db = options.database.db;
    super(db, options.clock, {
      transaction: (work) => immediate(db, work),
      readKey: (connection, keyId) => connection.selectFrom('api_keys').select(['balance', 'price_group']).where('id', '=', keyId).executeTakeFirst(),
      utcDay: sql<string>`strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')`,
    });
    this.#prices = options.prices;
    this.#processId = options.processId ?? `process_${randomUUID().replaceAll('-', '')}`;
    this.#statements = prepareStatements(options.database.native);
    this.#batches = options.batches ?? GroupCommit.forDatabase(options.database);
    // The tasks table lives in the same database: the stores are only the code that writes its rows.
    const tasks = options.tasks ?? new SqliteTaskStore(options.database, this.#batches);
    const taskEvents = options.taskEvents ?? new SqliteTaskEventStore(options.database, this.#batches);
    // Each moment one unit of the group commit, all or nothing: a refusal comes before its writes,
    // anything else rolls the batch back (see RunOptions).
    this.taskLedger = {
      createReserved: async (task, request, events = [], queuedAtMost) => {
        const facts = reservationFacts(request);
        const held = await this.#batches.run(() => {
          if (queuedAtMost !== undefined && tasks.queuedInUnit(task.keyId) >= queuedAtMost) throw queueFullError(queuedAtMost);
          const held = this.#reserveInUnit(request, facts, null);
          tasks.insertInUnit(task);
          taskEvents.insertInUnit(events);
          return held;
        }, refusalsFirst);
        // The worker that finishes the task is often this process's own.
        this.#held.remember(request, held);
      },
      finishSettled: (taskId, owner, patch, reservation, settlement, events = []) => {
        const held = this.#held.take(reservation);
        return this.#batches.run(() => {
          if (!tasks.updateInUnit(taskId, owner, patch)) return false;
          this.#settleInUnit(reservation, settlement, held);
          taskEvents.insertInUnit(events);
          return true;
        }, refusalsFirst);
      },
    };
  }

  /** This process's name in reservation rows and in gateway_processes. */
  get processId(): string {
    return this.#processId;
  }

  async reserve(request: ReservationRequest): Promise<void> {
    const facts = reservationFacts(request);
    const held = await this.#batches.run(() => this.#reserveInUnit(request, facts, this.#processId), refusalsFirst);
    this.#held.remember(request, held);
  }

  /**
   * Debits the estimate and writes the reservation, held by `holder` (this process, or null: a task
   * holds it), inside a unit of the group commit. Every refusal leaves the database as it found it
   * (the unit has no savepoint): the key and the price are checked before anything is written, a
   * reused id writes nothing, and a balance that does not cover the debit takes the row back.
   */
  #reserveInUnit(request: ReservationRequest, facts: ReturnType<typeof reservationFacts>, holder: string | null): HeldReservation {
    const statements = this.#statements;
    const key = statements.key.get(request.keyId);
    if (!key) throw new GatewayError('invalid_api_key', 'The API key of this request no longer exists.');
    const { row, metered, estimated, terms } = newReservation(this.#prices, request, facts, key, holder, this.clock.now());
    const inserted = statements.insertReservation.run(
      row.key_id, row.id, row.model, row.operation, row.images_requested, row.size, row.quality, row.price_group,
      row.pricing, row.facts, row.estimated, row.debited, row.status, row.holder, row.created_at, row.closed_at,
    );
    if (inserted.changes === 0) throw reservationConflictError(request.reservationId);
    if (metered && estimated > 0 && statements.debit.run(estimated, request.keyId, estimated).changes === 0) {
      statements.forgetReservation.run(request.keyId, request.reservationId);
      throw insufficientQuotaError(estimated, key.balance ?? 0);
    }
    return { row, terms };
  }

  settle(reservation: ReservationRef, settlement: Settlement): Promise<void> {
    const held = this.#held.take(reservation);
    return this.#batches.run(() => this.#settleInUnit(reservation, settlement, held), refusalsFirst);
  }

  /**
   * Closes an open reservation and charges it; a settled or released one is left as it is. `known`:
   * the row as this process wrote it, so only the close is written, never the row read back.
   */
  #settleInUnit(reservation: ReservationRef, settlement: Settlement, known: HeldReservation | undefined): void {
    const statements = this.#statements;
    const now = this.clock.now();
    if (known !== undefined) {
      if (statements.closeHeld.run(now, reservation.keyId, reservation.reservationId).changes > 0) {
        this.#chargeRow(known.row, settlement, now, known.terms);
        return;
      }
    } else {
      const held = statements.settleHeld.get(now, reservation.keyId, reservation.reservationId);
      if (held) {
        this.#chargeRow(held, settlement, now);
        return;
      }
    }
    const swept = statements.swept.get(reservation.keyId, reservation.reservationId);
    if (!swept) return;
    statements.close.run('settled', now, swept.key_id, swept.id);
    this.#chargeRow(swept, settlement, now);
  }

  release(reservation: ReservationRef): Promise<void> {
    this.#held.forget(reservation);
    return this.#batches.run(() => {
      const row = this.#statements.held.get(reservation.keyId, reservation.reservationId);
      if (row) this.#returnRow(row, 'released');
    });
  }

  handOver(reservation: ReservationRef): Promise<void> {
    // A task settles it from now on, maybe in another process: from the row.
    this.#held.forget(reservation);
    return this.#batches.run(() => void this.#statements.handOver.run(reservation.keyId, reservation.reservationId));
  }

  renewProcessLease(leaseMs: number): Promise<void> {
    return this.#batches.run(() => {
      const now = this.clock.now();
      this.#statements.renewLease.run(this.#processId, now, now + leaseMs);
    });
  }

  endProcessLease(): Promise<void> {
    return this.#batches.run(() => void this.#statements.endLease.run(this.#processId));
  }

  sweepAbandoned(options: SweepOptions): Promise<number> {
    return this.#batches.run(() => {
      const now = this.clock.now();
      const rows = this.#statements.abandoned.all(now - options.heldLongerThanMs, now, sweepBatch);
      // Every row was read in this transaction with status 'held': another process's sweep either
      // committed before it (and the row is gone from the result) or waits for this one to commit.
      for (const row of rows) this.#returnRow(row, 'swept');
      this.#statements.forgetProcesses.run(now - forgetProcessesAfterMs);
      return rows.length;
    });
  }

  /**
   * Charges a reservation just closed for what was delivered (inside a batch) and writes its usage row.
   * A swept reservation's money went back, so it is charged afresh.
   */
  #chargeRow(reservation: ReservationRow, settlement: Settlement, now: number, terms?: ReservationTerms): void {
    const statements = this.#statements;
    const plan = planSettlement(reservation, settlement, terms);
    this.#refund(reservation.key_id, plan.refund, now);
    let extra = 0;
    if (plan.shortfall > 0) {
      // The balance is read only here: a settle within the estimate (the usual one) spares the read.
      extra = collectableExtra(plan, statements.key.get(reservation.key_id)?.balance ?? null);
      if (extra > 0) statements.debit.run(extra, reservation.key_id, extra);
    }
    const usage = usageRow(reservation, settlement, plan, extra, now);
    statements.insertUsage.run(
      usage.key_id, usage.reservation_id, usage.model, usage.operation, usage.provider, usage.channel, usage.images_requested,
      usage.images_delivered, usage.size, usage.quality, usage.price_group, usage.unit, usage.unit_price, usage.input_text_tokens,
      usage.input_image_tokens, usage.output_tokens, usage.amount, usage.metered, usage.detail, usage.created_at,
    );
  }

  /** Returns a held reservation's whole debit (inside a batch): released by its request, or swept. */
  #returnRow(reservation: ReservationRow, status: 'released' | 'swept'): void {
    const now = this.clock.now();
    this.#statements.close.run(status, now, reservation.key_id, reservation.id);
    if (reservation.debited > 0) this.#refund(reservation.key_id, reservation.debited, now);
  }

  /** Returns credits to a key; a key made unlimited meanwhile has no balance to return to, so the ledger writes them off. */
  #refund(keyId: string, amount: number, now: number): void {
    if (amount <= 0) return;
    if (this.#statements.credit.run(amount, keyId).changes === 0) this.#statements.writeOff.run(keyId, -amount, 'refund to a key made unlimited', now);
  }
}
