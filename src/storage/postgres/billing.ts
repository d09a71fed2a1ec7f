// The Billing port on PostgreSQL. A reservation and a settlement are, when they apply, one statement
// each (ledger-statements.ts: data-modifying CTEs, guarded so that a debit the balance does not cover or
// a reservation no longer held fails the statement whole), committed with the others of the moment by
// the group commit (group-commit.ts) as prepared statements — one round trip where the transaction
// took five. When a statement does not apply, or this process did not make the reservation, the
// operation is one READ COMMITTED transaction that locks the rows it changes (`SELECT … FOR UPDATE` on
// the reservation, and on the key where its balance must be read exactly), so reservations from any
// number of processes serialise on the key's row: a balance can reach zero but never pass it (and the
// guarded `UPDATE … WHERE balance >= $n` plus the CHECK on the column say so twice more). The key's
// lock is taken as late in a transaction as can be — every write of the key's waits for it until
// COMMIT — and a refund takes it only by its own UPDATE.
// Settle and release are idempotent per reservation (key and id). Every reservation names the process
// holding it until a task takes it over (handOver); sweepAbandoned returns what processes whose lease
// lapsed still hold, each reservation once (its row is locked and re-checked). The rows, the settle's
// arithmetic and the queries off the hot path are shared with SQLite (../sql/billing.ts).

import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { PriceBook } from '../../billing/price-book.js';
import { insufficientQuotaError, reservationConflictError, reservationFacts } from '../../billing/reservation-charge.js';
import { GatewayError } from '../../core/errors.js';
import type { ReservationRef, ReservationRequest, Settlement } from '../../core/ports/billing.js';
import type { BillingStore, SweepOptions } from '../../core/ports/billing-store.js';
import type { Clock } from '../../core/ports/clock.js';
import type { TaskEvent } from '../../core/ports/task-events.js';
import { queueFullError, type TaskLedger } from '../../core/ports/task-ledger.js';
import type { TaskPatch, TaskRecord } from '../../core/ports/task-store.js';
import { HeldReservations, rememberAtMost } from '../sql/held-reservations.js';
import { collectableExtra, forgetProcessesAfterMs, newReservation, planSettlement, SqlBillingBooks, sweepBatch, usageRow, type KeyBalance, type ReservationRow } from '../sql/billing.js';
import type { DatabaseSchema, TasksTable } from '../sql/schema.js';
import { toEventRow } from '../sql/task-event-store.js';
import { countQueued, toPatchRow, toRow } from '../sql/task-store.js';
import { PostgresGroupCommit } from './group-commit.js';
import { alreadyExists, createReservedStatement, didNotApply, finishSettledStatement, type ReservedOutcome, type TaskFinish } from './ledger-statements.js';
import type { PreparedStatements } from './prepared-statements.js';

type Connection = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

export interface PostgresBillingOptions {
  db: Kysely<DatabaseSchema>;
  /** The hot path's statements (reservations, settlements and the task ledger's moments in one statement each), on the same pool. */
  statements: PreparedStatements;
  prices: PriceBook;
  clock: Clock;
  /** Names this process in reservation rows and its lease; unique per process by default. */
  processId?: string;
}

export class PostgresBilling extends SqlBillingBooks implements BillingStore {
  readonly #prices: PriceBook;
  readonly #processId: string;
  /** The tasks table is in the same database: a task's moments are one statement each (a transaction when that does not apply). */
  readonly taskLedger: TaskLedger;

  /** The key's price group and metering as last read: what a one-statement reservation's debit is guarded by. */
  readonly #keys = new Map<string, { metered: boolean; priceGroup: string }>();
  /**
   * The reservations this process made for its tasks, still held as far as it knows: a settle prices
   * from the row it wrote instead of reading it back (its pricing and facts never change; the
   * statement checks it is still held). Tasks finished by another process read theirs as before.
   */
  readonly #held = new HeldReservations();
  /** The one-statement moments of one turn (and of the time a batch takes) committed together. */
  readonly #group: PostgresGroupCommit;

  constructor(options: PostgresBillingOptions) {
    super(options.db, options.clock, {
      transaction: (work) => options.db.transaction().execute(work),
      readKey: lockKey,
      utcDay: sql<string>`to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
    });
    this.#prices = options.prices;
    this.#processId = options.processId ?? `process_${randomUUID().replaceAll('-', '')}`;
    this.#group = new PostgresGroupCommit(options.statements);
    this.taskLedger = {
      createReserved: (task, request, events = [], queuedAtMost) => this.#createReserved(task, request, events, queuedAtMost),
      finishSettled: (taskId, owner, patch, reservation, settlement, events = []) => this.#finishSettled(taskId, owner, patch, reservation, settlement, events),
    };
  }

  /** One statement (see ledger-statements.ts); the transaction when it did not apply: a refusal, a key changed since read. */
  async #createReserved(task: TaskRecord, request: ReservationRequest, events: readonly TaskEvent[], queuedAtMost: number | undefined): Promise<void> {
    if (await this.#reserveInOneStatement(toRow(task), events, request, null, queuedAtMost)) return;
    await this.db.transaction().execute(async (transaction) => {
      if (queuedAtMost !== undefined && (await countQueued(transaction, task.keyId, queuedAtMost)) >= queuedAtMost) throw queueFullError(queuedAtMost);
      const inserted = await transaction.insertInto('tasks').values(toRow(task)).onConflict((conflict) => conflict.column('id').doNothing()).executeTakeFirst();
      if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 0n) throw reservationConflictError(request.reservationId);
      if (events.length > 0) await transaction.insertInto('task_events').values(events.map(toEventRow)).execute();
      await this.#reserveIn(transaction, request, null);
    });
  }

  /**
   * The reservation (with a task's row and events, or alone: held by this process) as one statement of
   * the group commit, guarded by the key's facts as last read. False when it did not apply (the key is
   * unknown, its balance does not cover the debit, or it changed since read): the transaction decides.
   * With `queuedAtMost`, a key with that many tasks waiting gets queueFullError, nothing written.
   */
  async #reserveInOneStatement(task: TasksTable | undefined, events: readonly TaskEvent[], request: ReservationRequest, holder: string | null, queuedAtMost?: number): Promise<boolean> {
    const key = this.#keys.get(request.keyId) ?? (await this.#readKeyFacts(request.keyId));
    if (key === undefined) return false;
    const facts = reservationFacts(request);
    const { row, metered, estimated, terms } = newReservation(this.#prices, request, facts, { balance: key.metered ? 0 : null, price_group: key.priceGroup }, holder, this.clock.now());
    const statement = createReservedStatement(task, events.map(toEventRow), row, { keyId: request.keyId, priceGroup: key.priceGroup, metered, amount: estimated }, queuedAtMost);
    const result = await this.#group.run(statement, request.keyId).catch((error: unknown) => {
      throw alreadyExists(error) ? reservationConflictError(request.reservationId) : error;
    });
    const outcome = result.rows[0] as ReservedOutcome | undefined;
    if (outcome?.room === false && queuedAtMost !== undefined) throw queueFullError(queuedAtMost);
    if (outcome?.reserved !== true) {
      this.#keys.delete(request.keyId);
      return false;
    }
    this.#held.remember(request, { row, terms });
    return true;
  }

  async #readKeyFacts(keyId: string): Promise<{ metered: boolean; priceGroup: string } | undefined> {
    const read = await this.db.selectFrom('api_keys').select(['balance', 'price_group']).where('id', '=', keyId).executeTakeFirst();
    if (read === undefined) return undefined;
    const facts = { metered: read.balance !== null, priceGroup: read.price_group };
    rememberAtMost(this.#keys, keyId, facts, keyFactsEntries);
    return facts;
  }

  /**
   * One statement when this process made the reservation and usage stays within its estimate; else
   * (and when the statement did not apply: lease lost, reservation no longer held, key made unlimited)
   * the transaction, which decides those exactly.
   */
  async #finishSettled(taskId: string, owner: string, patch: TaskPatch, ref: ReservationRef, settlement: Settlement, events: readonly TaskEvent[]): Promise<boolean> {
    const changes = toPatchRow(patch);
    if (Object.keys(changes).length > 0 && (await this.#settleInOneStatement(ref, settlement, { id: taskId, owner, changes }, events))) return true;
    // The task row first: its lock fences a claim by another worker (SKIP LOCKED passes it by, and a
    // claim that locked it first changed the owner, so this update matches nothing and nothing is charged).
    const written = await this.db.transaction().execute(async (transaction) => {
      const held =
        Object.keys(changes).length === 0
          ? (await transaction.selectFrom('tasks').select('id').where('id', '=', taskId).where('lease_owner', '=', owner).forUpdate().executeTakeFirst()) !== undefined
          : (await transaction.updateTable('tasks').set(changes).where('id', '=', taskId).where('lease_owner', '=', owner).executeTakeFirst()).numUpdatedRows > 0n;
      if (!held) return false;
      if (events.length > 0) await transaction.insertInto('task_events').values(events.map(toEventRow)).execute();
      await this.#settleIn(transaction, ref, settlement);
      return true;
    });
    // Settled (now or before); a worker that lost the lease leaves the reservation to the one that has it.
    if (written) this.#held.forget(ref);
    return written;
  }

  /** One statement when it applies (see #reserveInOneStatement), else the transaction. */
  async reserve(request: ReservationRequest): Promise<void> {
    if (await this.#reserveInOneStatement(undefined, [], request, this.#processId)) return;
    await this.db.transaction().execute((transaction) => this.#reserveIn(transaction, request, this.#processId));
  }

  /**
   * Writes the reservation held by `holder` (this process, or null: a task holds it) and debits the
   * estimate; an error rolls the caller's transaction back. Optimistic: the key is read without a lock
   * and its row is locked only by the guarded debit, the last statement before the caller's COMMIT, so
   * the lock every reservation and settlement of the key waits for is held one round trip and the
   * COMMIT. A debit that matches nothing (the balance does not cover it, or the key changed since the
   * read: metering switched, balance spent) is undone and the reservation made again under the key's lock.
   */
  async #reserveIn(transaction: Transaction<DatabaseSchema>, request: ReservationRequest, holder: string | null): Promise<void> {
    const facts = reservationFacts(request);
    const read = await transaction.selectFrom('api_keys').select(['balance', 'price_group']).where('id', '=', request.keyId).executeTakeFirst();
    if (await this.#reserveWith(transaction, request, facts, read, holder)) return;
    await transaction.deleteFrom('billing_reservations').where('key_id', '=', request.keyId).where('id', '=', request.reservationId).execute();
    const locked = await lockKey(transaction, request.keyId);
    // The balance read under the lock is exact: a debit refused now is refused for good.
    if (!(await this.#reserveWith(transaction, request, facts, locked, holder))) throw insufficientQuotaError(estimatedFor(this.#prices, request, facts, locked), locked?.balance ?? 0);
  }

  /** Inserts the reservation and debits it; false when the guarded debit matched nothing (nothing debited). */
  async #reserveWith(
    transaction: Transaction<DatabaseSchema>,
    request: ReservationRequest,
    facts: ReturnType<typeof reservationFacts>,
    key: KeyBalance | undefined,
    holder: string | null,
  ): Promise<boolean> {
    if (!key) throw new GatewayError('invalid_api_key', 'The API key of this request no longer exists.');
    const { row, metered, estimated } = newReservation(this.#prices, request, facts, key, holder, this.clock.now());
    const inserted = await transaction
      .insertInto('billing_reservations')
      .values(row)
      .onConflict((conflict) => conflict.columns(['key_id', 'id']).doNothing())
      .executeTakeFirst();
    if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 0n) throw reservationConflictError(request.reservationId);
    if (!metered || estimated === 0) return true;
    const debited = await transaction
      .updateTable('api_keys')
      .set((expression) => ({ balance: expression('balance', '-', estimated) }))
      .where('id', '=', request.keyId)
      .where('balance', '>=', estimated)
      .executeTakeFirst();
    return debited.numUpdatedRows > 0n;
  }

  /**
   * One statement when this process made the reservation and usage stays within its estimate; else
   * (and when the statement did not apply: the reservation is no longer held, the key was made
   * unlimited) the transaction, which decides those exactly.
   */
  async settle(ref: ReservationRef, settlement: Settlement): Promise<void> {
    if (await this.#settleInOneStatement(ref, settlement, undefined, [])) return;
    this.#held.forget(ref);
    await this.db.transaction().execute((transaction) => this.#settleIn(transaction, ref, settlement));
  }

  /**
   * The settlement (with a task's final write fenced by its lease and its events, or alone) as one
   * statement of the group commit, priced from the reservation this process made. False when it does
   * not apply — a reservation this process did not make, usage above the estimate, or a statement
   * that did not apply (lease lost, reservation no longer held, key made unlimited): the transaction decides.
   */
  async #settleInOneStatement(ref: ReservationRef, settlement: Settlement, task: TaskFinish | undefined, events: readonly TaskEvent[]): Promise<boolean> {
    const held = this.#held.get(ref);
    if (held === undefined) return false;
    const reservation = held.row;
    const plan = planSettlement(reservation, settlement, held.terms);
    if (plan.shortfall > 0) return false;
    const now = this.clock.now();
    const statement = finishSettledStatement(task, events.map(toEventRow), usageRow(reservation, settlement, plan, 0, now), plan.refund, now);
    const applied = await this.#group.run(statement, ref.keyId).then(
      (result) => result.rowCount === 1,
      (error: unknown) => {
        if (didNotApply(error)) return false;
        throw error;
      },
    );
    if (!applied) return false;
    this.#held.forget(ref);
    return true;
  }

  async #settleIn(transaction: Transaction<DatabaseSchema>, ref: ReservationRef, settlement: Settlement): Promise<void> {
    const reservation = await transaction
      .selectFrom('billing_reservations')
      .selectAll()
      .where('key_id', '=', ref.keyId)
      .where('id', '=', ref.reservationId)
      .where('status', 'in', ['held', 'swept'])
      .forUpdate()
      .executeTakeFirst();
    if (!reservation) return;
    const plan = planSettlement(reservation, settlement);
    const now = this.clock.now();
    let extra = 0;
    if (plan.shortfall > 0) {
      // Usage above the estimate (rare): the balance is read under the key's lock, so what is taken is exactly what it holds.
      const key = await lockKey(transaction, reservation.key_id);
      extra = collectableExtra(plan, key?.balance ?? null);
      if (extra > 0) {
        await transaction
          .updateTable('api_keys')
          .set((expression) => ({ balance: expression('balance', '-', extra) }))
          .where('id', '=', reservation.key_id)
          .where('balance', '>=', extra)
          .execute();
      }
    }
    await transaction
      .updateTable('billing_reservations')
      .set({ status: 'settled', holder: null, closed_at: now })
      .where('key_id', '=', ref.keyId)
      .where('id', '=', ref.reservationId)
      .execute();
    await transaction.insertInto('billing_usage').values(usageRow(reservation, settlement, plan, extra, now)).execute();
    // Last: the refund's UPDATE locks the key's row until COMMIT, and every reservation and settlement
    // of the key waits for that lock, so the fewer round trips it is held the more of them a key gets.
    await refund(transaction, reservation.key_id, plan.refund, now);
  }

  async release(ref: ReservationRef): Promise<void> {
    this.#held.forget(ref);
    await this.db.transaction().execute(async (transaction) => {
      const reservation = await transaction
        .selectFrom('billing_reservations')
        .selectAll()
        .where('key_id', '=', ref.keyId)
        .where('id', '=', ref.reservationId)
        .where('status', '=', 'held')
        .forUpdate()
        .executeTakeFirst();
      if (reservation) await this.#returnReservation(transaction, reservation, 'released');
    });
  }

  async handOver(ref: ReservationRef): Promise<void> {
    await this.db.updateTable('billing_reservations').set({ holder: null }).where('key_id', '=', ref.keyId).where('id', '=', ref.reservationId).where('status', '=', 'held').execute();
  }

  async renewProcessLease(leaseMs: number): Promise<void> {
    const now = this.clock.now();
    await this.db
      .insertInto('gateway_processes')
      .values({ id: this.#processId, started_at: now, lease_expires_at: now + leaseMs })
      .onConflict((conflict) => conflict.column('id').doUpdateSet({ lease_expires_at: now + leaseMs }))
      .execute();
  }

  async endProcessLease(): Promise<void> {
    await this.db.deleteFrom('gateway_processes').where('id', '=', this.#processId).execute();
  }

  async sweepAbandoned(options: SweepOptions): Promise<number> {
    const now = this.clock.now();
    return this.db.transaction().execute(async (transaction) => {
      // SKIP LOCKED: a reservation another sweep (or its own settle) holds is left to that one.
      const rows = await transaction
        .selectFrom('billing_reservations as reservation')
        .selectAll()
        .where('reservation.status', '=', 'held')
        .where('reservation.holder', 'is not', null)
        .where('reservation.created_at', '<=', now - options.heldLongerThanMs)
        .where(({ not, exists, selectFrom }) =>
          not(exists(selectFrom('gateway_processes as process').select('process.id').whereRef('process.id', '=', 'reservation.holder').where('process.lease_expires_at', '>', now))),
        )
        .limit(sweepBatch)
        .forUpdate()
        .skipLocked()
        .execute();
      for (const row of rows) await this.#returnReservation(transaction, row, 'swept');
      await transaction.deleteFrom('gateway_processes').where('lease_expires_at', '<', now - forgetProcessesAfterMs).execute();
      return rows.length;
    });
  }

  /** Returns a held reservation's whole debit: released by its request, or swept. */
  async #returnReservation(transaction: Transaction<DatabaseSchema>, reservation: ReservationRow, status: 'released' | 'swept'): Promise<void> {
    const now = this.clock.now();
    await transaction
      .updateTable('billing_reservations')
      .set({ status, holder: null, closed_at: now })
      .where('key_id', '=', reservation.key_id)
      .where('id', '=', reservation.id)
      .execute();
    await refund(transaction, reservation.key_id, reservation.debited, now);
  }
}

/** Keys' facts kept at most: the oldest go first (a forgotten entry only costs a read). */
const keyFactsEntries = 10_000;

/** What a reservation of `request` would debit from `key` (for the refusal's message). */
function estimatedFor(prices: PriceBook, request: ReservationRequest, facts: ReturnType<typeof reservationFacts>, key: KeyBalance | undefined): number {
  return key === undefined ? 0 : newReservation(prices, request, facts, key, null, 0).estimated;
}

/** Reads the key under a row lock held until the transaction ends. */
function lockKey(connection: Connection, keyId: string): Promise<KeyBalance | undefined> {
  return connection.selectFrom('api_keys').select(['balance', 'price_group']).where('id', '=', keyId).forUpdate().executeTakeFirst();
}

/** Returns credits to a key; a key made unlimited meanwhile has no balance to return to, so the ledger writes them off. */
async function refund(connection: Connection, keyId: string, amount: number, now: number): Promise<void> {
  if (amount <= 0) return;
  // No read first: the UPDATE takes the key's lock and sees its latest balance (NULL: made unlimited, or gone).
  const credited = await connection
    .updateTable('api_keys')
    .set((expression) => ({ balance: expression('balance', '+', amount) }))
    .where('id', '=', keyId)
    .where('balance', 'is not', null)
    .executeTakeFirst();
  if (credited.numUpdatedRows === 0n) {
    await connection.insertInto('billing_ledger').values({ key_id: keyId, kind: 'writeoff', amount: -amount, note: 'refund to a key made unlimited', created_at: now }).execute();
  }
}
