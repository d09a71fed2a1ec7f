// The Billing port on PostgreSQL. Each operation is one READ COMMITTED transaction that first locks
// the rows it changes (`SELECT … FOR UPDATE` on the reservation and the key), so reservations from
// any number of processes serialise on the key's row: a balance can reach zero but never pass it
// (and the guarded `UPDATE … WHERE balance >= $n` plus the CHECK on the column say so twice more).
// Settle and release are idempotent per reservation (key and id). Every reservation names the process
// holding it until a task takes it over (handOver); sweepAbandoned returns what processes whose lease
// lapsed still hold, each reservation once (its row is locked and re-checked).

import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { PriceBook, PriceQuote } from '../../billing/price-book.js';
import {
  chargeForDelivery,
  estimateReservation,
  insufficientQuotaError,
  reservationConflictError,
  reservationFacts,
  type ReservationFacts,
} from '../../billing/reservation-charge.js';
import { GatewayError } from '../../core/errors.js';
import { assertCredits, creditsToUsd, expiredUsageDetail, maxCredits } from '../../core/money.js';
import type { ReservationRef, ReservationRequest, Settlement } from '../../core/ports/billing.js';
import type { BillingStore, KeyAccount, SweepOptions, UsageFilter, UsageRecord, UsageSummaryRow } from '../../core/ports/billing-store.js';
import type { Clock } from '../../core/ports/clock.js';
import type { BillingReservationsTable, BillingUsageTable, DatabaseSchema } from '../sql/schema.js';

type Connection = Kysely<DatabaseSchema> | Transaction<DatabaseSchema>;

const defaultUsageLimit = 100;
const maxUsageLimit = 1000;
/** Reservations one sweep returns at most; the next round takes the rest. */
const sweepBatch = 500;
/** Lease rows of processes gone this long are deleted. */
const forgetProcessesAfterMs = 24 * 60 * 60 * 1000;

export interface PostgresBillingOptions {
  db: Kysely<DatabaseSchema>;
  prices: PriceBook;
  clock: Clock;
  /** Names this process in reservation rows and its lease; unique per process by default. */
  processId?: string;
}

export class PostgresBilling implements BillingStore {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #prices: PriceBook;
  readonly #clock: Clock;
  readonly #processId: string;

  constructor(options: PostgresBillingOptions) {
    this.#db = options.db;
    this.#prices = options.prices;
    this.#clock = options.clock;
    this.#processId = options.processId ?? `process_${randomUUID().replaceAll('-', '')}`;
  }

  async reserve(request: ReservationRequest): Promise<void> {
    const facts = reservationFacts(request);
    await this.#db.transaction().execute(async (transaction) => {
      const key = await lockKey(transaction, request.keyId);
      if (!key) throw new GatewayError('invalid_api_key', 'The API key of this request no longer exists.');
      const metered = key.balance !== null;
      const quote = this.#prices.quote(request.model, key.price_group);
      const estimated = estimateReservation(quote, request, facts, metered);
      const inserted = await transaction
        .insertInto('billing_reservations')
        .values({
          id: request.reservationId,
          key_id: request.keyId,
          model: request.model,
          operation: request.operation,
          images_requested: request.imagesRequested,
          size: request.size,
          quality: request.quality ?? null,
          price_group: key.price_group,
          pricing: JSON.stringify(quote ?? null),
          facts: JSON.stringify({ ...facts, metered } satisfies ReservationFacts),
          estimated,
          debited: metered ? estimated : 0,
          status: 'held',
          holder: this.#processId,
          created_at: this.#clock.now(),
          closed_at: null,
        })
        .onConflict((conflict) => conflict.columns(['key_id', 'id']).doNothing())
        .executeTakeFirst();
      if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 0n) throw reservationConflictError(request.reservationId);
      if (!metered || estimated === 0) return;
      const debited = await transaction
        .updateTable('api_keys')
        .set((expression) => ({ balance: expression('balance', '-', estimated) }))
        .where('id', '=', request.keyId)
        .where('balance', '>=', estimated)
        .executeTakeFirst();
      // The error rolls the transaction back, reservation row included.
      if (debited.numUpdatedRows === 0n) throw insufficientQuotaError(estimated, key.balance ?? 0);
    });
  }

  async settle(ref: ReservationRef, settlement: Settlement): Promise<void> {
    await this.#db.transaction().execute(async (transaction) => {
      const reservation = await transaction
        .selectFrom('billing_reservations')
        .selectAll()
        .where('key_id', '=', ref.keyId)
        .where('id', '=', ref.reservationId)
        .where('status', 'in', ['held', 'swept'])
        .forUpdate()
        .executeTakeFirst();
      if (!reservation) return;
      const key = await lockKey(transaction, reservation.key_id);
      const quote = JSON.parse(reservation.pricing) as PriceQuote | null;
      const facts = JSON.parse(reservation.facts) as ReservationFacts;
      const delivered = Math.min(settlement.imagesDelivered, reservation.images_requested);
      const charge = chargeForDelivery(quote, reservation, facts, delivered, settlement);
      const now = this.#clock.now();
      // A swept reservation's debit went back to the key: its charge is taken afresh.
      const debited = reservation.status === 'swept' ? 0 : reservation.debited;
      let collected = charge.amount;
      const detail: Record<string, unknown> = { ...charge.detail, estimated: reservation.estimated };
      if (facts.metered) {
        if (charge.amount <= debited) {
          await refund(transaction, reservation.key_id, debited - charge.amount, key?.balance ?? null, now);
        } else {
          // Reported usage above the estimate: take what the balance still holds, never more.
          const extra = Math.min(charge.amount - debited, key?.balance ?? 0);
          if (extra > 0) {
            await transaction
              .updateTable('api_keys')
              .set((expression) => ({ balance: expression('balance', '-', extra) }))
              .where('id', '=', reservation.key_id)
              .where('balance', '>=', extra)
              .execute();
          }
          collected = debited + extra;
          if (collected < charge.amount) detail.uncollected = charge.amount - collected;
        }
      }
      await transaction
        .updateTable('billing_reservations')
        .set({ status: 'settled', holder: null, closed_at: now })
        .where('key_id', '=', ref.keyId)
        .where('id', '=', ref.reservationId)
        .execute();
      await transaction
        .insertInto('billing_usage')
        .values({
          reservation_id: ref.reservationId,
          key_id: reservation.key_id,
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
          amount: facts.metered ? collected : charge.amount,
          metered: facts.metered ? 1 : 0,
          detail: JSON.stringify(detail),
          created_at: now,
        })
        .execute();
    });
  }

  async release(ref: ReservationRef): Promise<void> {
    await this.#db.transaction().execute(async (transaction) => {
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
    await this.#db.updateTable('billing_reservations').set({ holder: null }).where('key_id', '=', ref.keyId).where('id', '=', ref.reservationId).where('status', '=', 'held').execute();
  }

  async renewProcessLease(leaseMs: number): Promise<void> {
    const now = this.#clock.now();
    await this.#db
      .insertInto('gateway_processes')
      .values({ id: this.#processId, started_at: now, lease_expires_at: now + leaseMs })
      .onConflict((conflict) => conflict.column('id').doUpdateSet({ lease_expires_at: now + leaseMs }))
      .execute();
  }

  async endProcessLease(): Promise<void> {
    await this.#db.deleteFrom('gateway_processes').where('id', '=', this.#processId).execute();
  }

  async sweepAbandoned(options: SweepOptions): Promise<number> {
    const now = this.#clock.now();
    return this.#db.transaction().execute(async (transaction) => {
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
  async #returnReservation(transaction: Transaction<DatabaseSchema>, reservation: Selectable<BillingReservationsTable>, status: 'released' | 'swept'): Promise<void> {
    const now = this.#clock.now();
    await transaction
      .updateTable('billing_reservations')
      .set({ status, holder: null, closed_at: now })
      .where('key_id', '=', reservation.key_id)
      .where('id', '=', reservation.id)
      .execute();
    if (reservation.debited > 0) {
      const key = await lockKey(transaction, reservation.key_id);
      await refund(transaction, reservation.key_id, reservation.debited, key?.balance ?? null, now);
    }
  }

  /** Retention: drops the pricing arithmetic of usage rows created before `cutoffMs`; the rows (amounts) stay. */
  async expireDetailOlderThan(cutoffMs: number): Promise<number> {
    const result = await this.#db.updateTable('billing_usage').set({ detail: expiredUsageDetail }).where('created_at', '<', cutoffMs).where('detail', '!=', expiredUsageDetail).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  async topUp(keyId: string, amount: number, note: string | null, kind: 'initial' | 'topup' = 'topup'): Promise<number> {
    assertCredits(amount, 'amount');
    return this.#db.transaction().execute(async (transaction) => {
      const key = await lockKey(transaction, keyId);
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      if (key.balance === null) throw new GatewayError('conflict', `Key '${keyId}' is unlimited; make it metered (quota) before topping it up.`);
      if (key.balance + amount > maxCredits) {
        throw new GatewayError('invalid_value', `This top-up would bring the balance to ${key.balance + amount} credits, above the largest balance the books hold (${maxCredits} credits, $${creditsToUsd(maxCredits)}).`, { param: 'amount' });
      }
      await transaction.updateTable('api_keys').set((expression) => ({ balance: expression('balance', '+', amount) })).where('id', '=', keyId).execute();
      await transaction.insertInto('billing_ledger').values({ key_id: keyId, kind, amount, note, created_at: this.#clock.now() }).execute();
      return key.balance + amount;
    });
  }

  async setMetered(keyId: string, metered: boolean, initialCredits = 0, note: string | null = null): Promise<number | null> {
    assertCredits(initialCredits, 'quota');
    return this.#db.transaction().execute(async (transaction) => {
      const key = await lockKey(transaction, keyId);
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      const now = this.#clock.now();
      if (!metered) {
        if (key.balance === null) return null;
        await transaction.updateTable('api_keys').set({ balance: null }).where('id', '=', keyId).execute();
        if (key.balance > 0) await transaction.insertInto('billing_ledger').values({ key_id: keyId, kind: 'writeoff', amount: -key.balance, note: note ?? 'made unlimited', created_at: now }).execute();
        return null;
      }
      if (key.balance !== null) return key.balance;
      await transaction.updateTable('api_keys').set({ balance: initialCredits }).where('id', '=', keyId).execute();
      await transaction.insertInto('billing_ledger').values({ key_id: keyId, kind: 'initial', amount: initialCredits, note, created_at: now }).execute();
      return initialCredits;
    });
  }

  async balance(keyId: string): Promise<number | null | undefined> {
    const key = await this.#db.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst();
    return key?.balance;
  }

  /** One snapshot (one statement), so the books balance even while other processes charge the key. */
  async account(keyId: string): Promise<KeyAccount> {
    const row = await sql<{ balance: number | null; granted: number; charged: number; held: number }>`
      SELECT
        (SELECT balance FROM api_keys WHERE id = ${keyId}) AS balance,
        (SELECT coalesce(sum(amount), 0) FROM billing_ledger WHERE key_id = ${keyId}) AS granted,
        (SELECT coalesce(sum(amount), 0) FROM billing_usage WHERE key_id = ${keyId} AND metered = 1) AS charged,
        (SELECT coalesce(sum(debited), 0) FROM billing_reservations WHERE key_id = ${keyId} AND status = 'held') AS held`.execute(this.#db);
    const account = row.rows[0];
    return { balance: account?.balance ?? null, granted: Number(account?.granted ?? 0), charged: Number(account?.charged ?? 0), held: Number(account?.held ?? 0) };
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

  async summarizeUsage(filter: Omit<UsageFilter, 'limit'>, groupBy: 'model' | 'day' | undefined): Promise<UsageSummaryRow[]> {
    const groupExpression =
      groupBy === 'model'
        ? sql<string>`model`
        : groupBy === 'day'
          ? sql<string>`to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
          : sql<string | null>`null::text`;
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
    const grouped = groupBy === undefined ? query : query.groupBy(sql`1`).orderBy(sql`1`);
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

/** Reads the key under a row lock held until the transaction ends. */
function lockKey(connection: Connection, keyId: string): Promise<{ balance: number | null; price_group: string } | undefined> {
  return connection.selectFrom('api_keys').select(['balance', 'price_group']).where('id', '=', keyId).forUpdate().executeTakeFirst();
}

/** Returns credits to a key; a key made unlimited meanwhile has no balance to return to, so the ledger writes them off. */
async function refund(connection: Connection, keyId: string, amount: number, balance: number | null, now: number): Promise<void> {
  if (amount <= 0) return;
  if (balance === null) {
    await connection.insertInto('billing_ledger').values({ key_id: keyId, kind: 'writeoff', amount: -amount, note: 'refund to a key made unlimited', created_at: now }).execute();
    return;
  }
  await connection.updateTable('api_keys').set((expression) => ({ balance: expression('balance', '+', amount) })).where('id', '=', keyId).execute();
}

function toUsageRecord(row: Selectable<BillingUsageTable>): UsageRecord {
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
