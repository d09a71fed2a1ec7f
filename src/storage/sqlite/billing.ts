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
// processes whose lease lapsed still hold.

import { randomUUID } from 'node:crypto';
import type Database from 'better-sqlite3';
import { sql, type Kysely, type Selectable } from 'kysely';
import { GatewayError } from '../../core/errors.js';
import type { ReservationRef, ReservationRequest, Settlement } from '../../core/ports/billing.js';
import type { Clock } from '../../core/ports/clock.js';
import type { BillingReservationsTable, BillingUsageTable, DatabaseSchema } from '../sql/schema.js';
import { assertCredits, creditsToUsd, expiredUsageDetail, maxCredits } from '../../core/money.js';
import type { BillingStore, KeyAccount, SweepOptions, UsageFilter, UsageRecord, UsageSummaryRow } from '../../core/ports/billing-store.js';
import type { PriceBook, PriceQuote } from '../../billing/price-book.js';
import { chargeForDelivery, estimateReservation, insufficientQuotaError, reservationFacts, type ReservationFacts } from '../../billing/reservation-charge.js';
import { GroupCommit } from './group-commit.js';

type Connection = Kysely<DatabaseSchema>;
type ReservationRow = Selectable<BillingReservationsTable>;

type StoredFacts = ReservationFacts;

/** Default and maximum rows of a usage listing. */
const defaultUsageLimit = 100;
const maxUsageLimit = 1000;
/** Reservations one sweep returns at most (one transaction); the next round takes the rest. */
const sweepBatch = 500;
/** Lease rows of processes gone this long are deleted. */
const forgetProcessesAfterMs = 24 * 60 * 60 * 1000;

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

/** The hot path's statements, prepared once. */
function prepareStatements(native: Database.Database) {
  return {
    key: native.prepare<[string], { balance: number | null; price_group: string }>('SELECT balance, price_group FROM api_keys WHERE id = ?'),
    insertReservation: native.prepare(
      `INSERT INTO billing_reservations
         (key_id, id, model, operation, images_requested, size, quality, price_group, pricing, facts, estimated, debited, status, holder, created_at, closed_at)
       VALUES (@key_id, @id, @model, @operation, @images_requested, @size, @quality, @price_group, @pricing, @facts, @estimated, @debited, 'held', @holder, @created_at, NULL)
       ON CONFLICT DO NOTHING`,
    ),
    // The one statement that guards a balance: it debits only when the balance covers the whole
    // amount, so under any concurrency a balance can reach zero but never pass it.
    debit: native.prepare<[number, string, number]>('UPDATE api_keys SET balance = balance - ? WHERE id = ? AND balance >= ?'),
    // No change when the key is unlimited (NULL balance) or gone: the caller writes the credits off.
    credit: native.prepare<[number, string]>('UPDATE api_keys SET balance = balance + ? WHERE id = ? AND balance IS NOT NULL'),
    writeOff: native.prepare<[string, number, string, number]>("INSERT INTO billing_ledger (key_id, kind, amount, note, created_at) VALUES (?, 'writeoff', ?, ?, ?)"),
    open: native.prepare<[string, string], ReservationRow>("SELECT * FROM billing_reservations WHERE key_id = ? AND id = ? AND status IN ('held', 'swept')"),
    held: native.prepare<[string, string], ReservationRow>("SELECT * FROM billing_reservations WHERE key_id = ? AND id = ? AND status = 'held'"),
    close: native.prepare<[string, number, string, string]>('UPDATE billing_reservations SET status = ?, holder = NULL, closed_at = ? WHERE key_id = ? AND id = ?'),
    handOver: native.prepare<[string, string]>("UPDATE billing_reservations SET holder = NULL WHERE key_id = ? AND id = ? AND status = 'held'"),
    insertUsage: native.prepare(
      `INSERT INTO billing_usage
         (key_id, reservation_id, model, operation, provider, channel, images_requested, images_delivered, size, quality, price_group, unit, unit_price,
          input_text_tokens, input_image_tokens, output_tokens, amount, metered, detail, created_at)
       VALUES (@key_id, @reservation_id, @model, @operation, @provider, @channel, @images_requested, @images_delivered, @size, @quality, @price_group, @unit, @unit_price,
          @input_text_tokens, @input_image_tokens, @output_tokens, @amount, @metered, @detail, @created_at)`,
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
  database: { db: Connection; native: Database.Database };
  prices: PriceBook;
  clock: Clock;
  /** Names this process in reservation rows and its lease; unique per process by default. */
  processId?: string;
  /** The database's group commit, shared with the task store so their writes share transactions (a private one by default). */
  batches?: GroupCommit;
}

export class SqliteBilling implements BillingStore {
  readonly #db: Connection;
  readonly #prices: PriceBook;
  readonly #clock: Clock;
  readonly #processId: string;
  readonly #statements: ReturnType<typeof prepareStatements>;
  readonly #batches: GroupCommit;

  constructor(options: SqliteBillingOptions) {
    this.#db = options.database.db;
    this.#prices = options.prices;
    this.#clock = options.clock;
    this.#processId = options.processId ?? `process_${randomUUID().replaceAll('-', '')}`;
    this.#statements = prepareStatements(options.database.native);
    this.#batches = options.batches ?? GroupCommit.forDatabase(options.database);
  }

  /** This process's name in reservation rows and in gateway_processes. */
  get processId(): string {
    return this.#processId;
  }

  reserve(request: ReservationRequest): Promise<void> {
    const facts = reservationFacts(request);
    return this.#batches.run(() => {
      const statements = this.#statements;
      const key = statements.key.get(request.keyId);
      if (!key) throw new GatewayError('invalid_api_key', 'The API key of this request no longer exists.');
      const metered = key.balance !== null;
      const quote = this.#prices.quote(request.model, key.price_group);
      const estimated = estimateReservation(quote, request, facts, metered);
      const inserted = statements.insertReservation.run({
        key_id: request.keyId,
        id: request.reservationId,
        model: request.model,
        operation: request.operation,
        images_requested: request.imagesRequested,
        size: request.size,
        quality: request.quality ?? null,
        price_group: key.price_group,
        pricing: JSON.stringify(quote ?? null),
        facts: JSON.stringify({ ...facts, metered } satisfies StoredFacts),
        estimated,
        debited: metered ? estimated : 0,
        holder: this.#processId,
        created_at: this.#clock.now(),
      });
      if (inserted.changes === 0) {
        // The same key reusing a request id: it must not ride on the first request's money.
        throw new GatewayError('conflict', `A request with id '${request.reservationId}' was already made with this key; send a new X-Request-Id for each request.`);
      }
      if (!metered || estimated === 0) return;
      // Refused: the unit's savepoint is rolled back, taking the reservation row with it.
      if (statements.debit.run(estimated, request.keyId, estimated).changes === 0) {
        throw insufficientQuotaError(estimated, key.balance ?? 0);
      }
    });
  }

  settle(reservation: ReservationRef, settlement: Settlement): Promise<void> {
    return this.#batches.run(() => {
      const row = this.#statements.open.get(reservation.keyId, reservation.reservationId);
      if (row) this.#settleRow(row, settlement);
    });
  }

  release(reservation: ReservationRef): Promise<void> {
    return this.#batches.run(() => {
      const row = this.#statements.held.get(reservation.keyId, reservation.reservationId);
      if (row) this.#returnRow(row, 'released');
    });
  }

  handOver(reservation: ReservationRef): Promise<void> {
    return this.#batches.run(() => void this.#statements.handOver.run(reservation.keyId, reservation.reservationId));
  }

  renewProcessLease(leaseMs: number): Promise<void> {
    return this.#batches.run(() => {
      const now = this.#clock.now();
      this.#statements.renewLease.run(this.#processId, now, now + leaseMs);
    });
  }

  endProcessLease(): Promise<void> {
    return this.#batches.run(() => void this.#statements.endLease.run(this.#processId));
  }

  sweepAbandoned(options: SweepOptions): Promise<number> {
    return this.#batches.run(() => {
      const now = this.#clock.now();
      const rows = this.#statements.abandoned.all(now - options.heldLongerThanMs, now, sweepBatch);
      // Every row was read in this transaction with status 'held': another process's sweep either
      // committed before it (and the row is gone from the result) or waits for this one to commit.
      for (const row of rows) this.#returnRow(row, 'swept');
      this.#statements.forgetProcesses.run(now - forgetProcessesAfterMs);
      return rows.length;
    });
  }

  /** Charges for what was delivered (inside a batch). A swept reservation's money went back, so it is charged afresh. */
  #settleRow(reservation: ReservationRow, settlement: Settlement): void {
    const statements = this.#statements;
    const quote = JSON.parse(reservation.pricing) as PriceQuote | null;
    const facts = JSON.parse(reservation.facts) as StoredFacts;
    const delivered = Math.min(settlement.imagesDelivered, reservation.images_requested);
    const charge = chargeForDelivery(quote, reservation, facts, delivered, settlement);
    const now = this.#clock.now();
    const debited = reservation.status === 'swept' ? 0 : reservation.debited;

    const metered = facts.metered;
    let collected = charge.amount;
    const detail: Record<string, unknown> = { ...charge.detail, estimated: reservation.estimated };
    if (metered) {
      if (charge.amount <= debited) {
        this.#refund(reservation.key_id, debited - charge.amount, now);
      } else {
        // Reported usage above the estimate: take what the balance still holds, never more.
        const extra = Math.min(charge.amount - debited, statements.key.get(reservation.key_id)?.balance ?? 0);
        if (extra > 0) statements.debit.run(extra, reservation.key_id, extra);
        collected = debited + extra;
        if (collected < charge.amount) detail.uncollected = charge.amount - collected;
      }
    }

    statements.close.run('settled', now, reservation.key_id, reservation.id);
    statements.insertUsage.run({
      key_id: reservation.key_id,
      reservation_id: reservation.id,
      model: reservation.model,
      operation: reservation.operation,
      provider: settlement.provider ?? null,
      channel: settlement.channel ?? null,
      images_requested: reservation.images_requested,
      images_delivered: delivered,
      size: reservation.size,
      quality: reservation.quality,
      price_group: reservation.price_group,
      unit: charge.unit,
      unit_price: charge.unitPrice,
      input_text_tokens: charge.inputTextTokens,
      input_image_tokens: charge.inputImageTokens,
      output_tokens: charge.outputTokens,
      amount: metered ? collected : charge.amount,
      metered: metered ? 1 : 0,
      detail: JSON.stringify(detail),
      created_at: now,
    });
  }

  /** Returns a held reservation's whole debit (inside a batch): released by its request, or swept. */
  #returnRow(reservation: ReservationRow, status: 'released' | 'swept'): void {
    const now = this.#clock.now();
    this.#statements.close.run(status, now, reservation.key_id, reservation.id);
    if (reservation.debited > 0) this.#refund(reservation.key_id, reservation.debited, now);
  }

  /** Returns credits to a key; a key made unlimited meanwhile has no balance to return to, so the ledger writes them off. */
  #refund(keyId: string, amount: number, now: number): void {
    if (amount <= 0) return;
    if (this.#statements.credit.run(amount, keyId).changes === 0) this.#statements.writeOff.run(keyId, -amount, 'refund to a key made unlimited', now);
  }

  /** Adds credits to a metered key; answers the new balance. An unlimited key has nothing to top up. */
  /**
   * Retention: drops the pricing arithmetic (`detail`) of usage rows created before `cutoffMs`. The rows
   * themselves stay — balances, /v1/usage and the account's books rest on their amounts.
   */
  async expireDetailOlderThan(cutoffMs: number): Promise<number> {
    const result = await this.#db.updateTable('billing_usage').set({ detail: expiredUsageDetail }).where('created_at', '<', cutoffMs).where('detail', '!=', expiredUsageDetail).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async topUp(keyId: string, amount: number, note: string | null, kind: 'initial' | 'topup' = 'topup'): Promise<number> {
    assertCredits(amount, 'amount');
    return immediate(this.#db, async (connection) => {
      const key = await connection.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst();
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      if (key.balance === null) throw new GatewayError('conflict', `Key '${keyId}' is unlimited; make it metered (quota) before topping it up.`);
      if (key.balance + amount > maxCredits) {
        throw new GatewayError('invalid_value', `This top-up would bring the balance to ${key.balance + amount} credits, above the largest balance the books hold (${maxCredits} credits, $${creditsToUsd(maxCredits)}).`, { param: 'amount' });
      }
      await connection.updateTable('api_keys').set((expression) => ({ balance: expression('balance', '+', amount) })).where('id', '=', keyId).execute();
      await connection.insertInto('billing_ledger').values({ key_id: keyId, kind, amount, note, created_at: this.#clock.now() }).execute();
      return key.balance + amount;
    });
  }

  /**
   * Makes a key unlimited (its remaining balance is written off in the ledger) or metered starting
   * at `initialCredits`. Answers the new balance (null = unlimited).
   */
  async setMetered(keyId: string, metered: boolean, initialCredits = 0, note: string | null = null): Promise<number | null> {
    assertCredits(initialCredits, 'quota');
    return immediate(this.#db, async (connection) => {
      const key = await connection.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst();
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      const now = this.#clock.now();
      if (!metered) {
        if (key.balance === null) return null;
        await connection.updateTable('api_keys').set({ balance: null }).where('id', '=', keyId).execute();
        if (key.balance > 0) await connection.insertInto('billing_ledger').values({ key_id: keyId, kind: 'writeoff', amount: -key.balance, note: note ?? 'made unlimited', created_at: now }).execute();
        return null;
      }
      if (key.balance !== null) return key.balance;
      await connection.updateTable('api_keys').set({ balance: initialCredits }).where('id', '=', keyId).execute();
      await connection.insertInto('billing_ledger').values({ key_id: keyId, kind: 'initial', amount: initialCredits, note, created_at: now }).execute();
      return initialCredits;
    });
  }

  async balance(keyId: string): Promise<number | null | undefined> {
    const key = await this.#db.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst();
    return key?.balance;
  }

  /** The books of one key: what was granted, charged and is held, beside its balance. */
  async account(keyId: string): Promise<KeyAccount> {
    const [key, granted, charged, held] = await Promise.all([
      this.#db.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst(),
      this.#db.selectFrom('billing_ledger').select((expression) => expression.fn.coalesce(expression.fn.sum<number>('amount'), sql<number>`0`).as('total')).where('key_id', '=', keyId).executeTakeFirstOrThrow(),
      this.#db
        .selectFrom('billing_usage')
        .select((expression) => expression.fn.coalesce(expression.fn.sum<number>('amount'), sql<number>`0`).as('total'))
        .where('key_id', '=', keyId)
        .where('metered', '=', 1)
        .executeTakeFirstOrThrow(),
      this.#db
        .selectFrom('billing_reservations')
        .select((expression) => expression.fn.coalesce(expression.fn.sum<number>('debited'), sql<number>`0`).as('total'))
        .where('key_id', '=', keyId)
        .where('status', '=', 'held')
        .executeTakeFirstOrThrow(),
    ]);
    return { balance: key?.balance ?? null, granted: Number(granted.total), charged: Number(charged.total), held: Number(held.total) };
  }

  async listUsage(filter: UsageFilter): Promise<UsageRecord[]> {
    let query = this.#db.selectFrom('billing_usage').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.model !== undefined) query = query.where('model', '=', filter.model);
    if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
    const limit = Math.min(filter.limit ?? defaultUsageLimit, maxUsageLimit);
    const rows = await query.orderBy('created_at', 'desc').orderBy('reservation_id', 'desc').limit(limit).execute();
    return rows.map(toUsageRecord);
  }

  /** Totals per model or per UTC day (or one grand total) of a key's usage between `from` and `to`. */
  async summarizeUsage(filter: Omit<UsageFilter, 'limit'>, groupBy: 'model' | 'day' | undefined): Promise<UsageSummaryRow[]> {
    const groupExpression =
      groupBy === 'model' ? sql<string>`model` : groupBy === 'day' ? sql<string>`strftime('%Y-%m-%d', created_at / 1000, 'unixepoch')` : sql<string | null>`null`;
    let query = this.#db
      .selectFrom('billing_usage')
      .select([
        groupExpression.as('group_name'),
        sql<number>`count(*)`.as('requests'),
        sql<number>`coalesce(sum(images_requested), 0)`.as('images_requested'),
        sql<number>`coalesce(sum(images_delivered), 0)`.as('images_delivered'),
        sql<number>`coalesce(sum(amount), 0)`.as('amount'),
      ]);
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.model !== undefined) query = query.where('model', '=', filter.model);
    if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
    const grouped = groupBy === undefined ? query : query.groupBy(sql`group_name`).orderBy(sql`group_name`);
    const rows = await grouped.execute();
    return rows
      .filter((row) => groupBy !== undefined || Number(row.requests) > 0)
      .map((row) => ({
        group: row.group_name,
        requests: Number(row.requests),
        imagesRequested: Number(row.images_requested),
        imagesDelivered: Number(row.images_delivered),
        amount: Number(row.amount),
      }));
  }

}

/** A billing_usage row as the UsageRecord the stores answer (also read by the console queries). */
export function toUsageRecord(row: Selectable<BillingUsageTable>): UsageRecord {
  return {
    reservationId: row.reservation_id,
    keyId: row.key_id,
    model: row.model,
    operation: row.operation,
    provider: row.provider,
    channel: row.channel,
    imagesRequested: row.images_requested,
    imagesDelivered: row.images_delivered,
    size: row.size,
    quality: row.quality,
    priceGroup: row.price_group,
    unit: row.unit,
    unitPrice: row.unit_price,
    inputTextTokens: row.input_text_tokens,
    inputImageTokens: row.input_image_tokens,
    outputTokens: row.output_tokens,
    amount: row.amount,
    metered: row.metered === 1,
    detail: JSON.parse(row.detail) as Record<string, unknown>,
    createdAt: row.created_at,
  };
}
