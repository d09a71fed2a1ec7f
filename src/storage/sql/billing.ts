// What the two BillingStores (storage/sqlite/billing.ts, storage/postgres/billing.ts) share: the rows a
// reserve and a settle write, a settle's arithmetic over the stored reservation, and the Kysely queries
// off the hot path (top-ups, metering, the books, usage listings and summaries). What differs stays in
// each backend: how a writer gets the key to itself (BEGIN IMMEDIATE on SQLite, `FOR UPDATE` row locks
// on PostgreSQL) and SQLite's hot path as prepared statements in a group commit.

import { sql, type Kysely, type RawBuilder, type Selectable } from 'kysely';
import { chargeForDelivery, estimateReservation, type ReservationFacts } from '../../billing/reservation-charge.js';
import type { Charge, PriceBook, PriceQuote } from '../../billing/price-book.js';
import { GatewayError } from '../../core/errors.js';
import { assertCredits, creditsToUsd, expiredUsageDetail, maxCredits } from '../../core/money.js';
import type { ReservationRequest, Settlement } from '../../core/ports/billing.js';
import type { KeyAccount, UsageFilter, UsageRecord, UsageSummaryRow } from '../../core/ports/billing-store.js';
import type { Clock } from '../../core/ports/clock.js';
import type { BillingReservationsTable, BillingUsageTable, DatabaseSchema } from './schema.js';

export type ReservationRow = Selectable<BillingReservationsTable>;

/** Default and maximum rows of a usage listing. */
const defaultUsageLimit = 100;
const maxUsageLimit = 1000;
/** Reservations one sweep returns at most (one transaction); the next round takes the rest. */
export const sweepBatch = 500;
/** Lease rows of processes gone this long are deleted. */
export const forgetProcessesAfterMs = 24 * 60 * 60 * 1000;

/** A key as a reserve reads it. */
export interface KeyBalance {
  /** null: unlimited (usage recorded, nothing debited). */
  balance: number | null;
  price_group: string;
}

/**
 * A new reservation of `request` for `key`: the row to insert (status 'held', named after its
 * holder process), which is also the held row a settle by this process prices from, and what it debits. A metered key's estimate is debited whole; an unlimited key's
 * is only recorded.
 */
export function newReservation(
  prices: PriceBook,
  request: ReservationRequest,
  facts: Omit<ReservationFacts, 'metered'>,
  key: KeyBalance,
  holder: string | null,
  now: number,
): { row: ReservationRow; metered: boolean; estimated: number; terms: ReservationTerms } {
  const metered = key.balance !== null;
  const quote = prices.quote(request.model, key.price_group) ?? null;
  const estimated = estimateReservation(quote, request, facts, metered);
  // Assigned onto a fresh object, not spread and extended (docs/architecture.md: no hidden class per request).
  const allFacts: ReservationFacts = Object.assign({}, facts, { metered });
  const row = {
    key_id: request.keyId,
    id: request.reservationId,
    model: request.model,
    operation: request.operation,
    images_requested: request.imagesRequested,
    size: request.size,
    quality: request.quality ?? null,
    price_group: key.price_group,
    pricing: pricingText(quote),
    facts: JSON.stringify(allFacts),
    estimated,
    debited: metered ? estimated : 0,
    status: 'held',
    holder,
    created_at: now,
    closed_at: null,
  } satisfies ReservationRow;
  return { row, metered, estimated, terms: { quote, facts: allFacts } };
}

/**
 * What a settle prices from: the quote at reserve time and the request's facts. A quote's price spec
 * is the price book's own object, which a price change replaces and never edits, so the terms kept
 * in memory (./held-reservations.ts) price exactly as the row's JSON does.
 */
export interface ReservationTerms {
  quote: PriceQuote | null;
  facts: ReservationFacts;
}

/** The terms a stored reservation row keeps as JSON. */
export function termsOf(reservation: ReservationRow): ReservationTerms {
  return { quote: JSON.parse(reservation.pricing) as PriceQuote | null, facts: JSON.parse(reservation.facts) as ReservationFacts };
}

/** Quotes as reservation rows keep them: the price book hands out the same (frozen) quote until a price changes. */
const pricingTexts = new WeakMap<PriceQuote, string>();

function pricingText(quote: PriceQuote | null): string {
  if (quote === null) return 'null';
  let text = pricingTexts.get(quote);
  if (text === undefined) {
    text = JSON.stringify(quote);
    pricingTexts.set(quote, text);
  }
  return text;
}

/** What a settle of one open reservation comes to, before the backend moves any money. */
export interface SettlementPlan {
  metered: boolean;
  /** Images charged: what was delivered, never more than requested. */
  delivered: number;
  charge: Charge;
  /** What the reservation still holds of the key's money (0 once swept: the sweep gave it back). */
  debited: number;
  /** Credits to give back to a metered key: the debit above the charge. */
  refund: number;
  /** Credits a metered key owes beyond the debit (reported usage above the estimate). */
  shortfall: number;
}

/**
 * Prices what was delivered at the price quoted at reserve time, against what the reservation debited;
 * `terms` as the row keeps them (given when the process that wrote the row still has them).
 */
export function planSettlement(reservation: ReservationRow, settlement: Settlement, terms: ReservationTerms = termsOf(reservation)): SettlementPlan {
  const { quote, facts } = terms;
  const delivered = Math.min(settlement.imagesDelivered, reservation.images_requested);
  const charge = chargeForDelivery(quote, reservation, facts, delivered, settlement);
  // A swept reservation's debit went back to the key: its charge is taken afresh.
  const debited = reservation.status === 'swept' ? 0 : reservation.debited;
  const over = facts.metered && charge.amount > debited;
  return {
    metered: facts.metered,
    delivered,
    charge,
    debited,
    refund: facts.metered && !over ? debited - charge.amount : 0,
    shortfall: over ? charge.amount - debited : 0,
  };
}

/** Of a shortfall, what is taken: what the balance still holds, never more. */
export function collectableExtra(plan: SettlementPlan, balance: number | null): number {
  return Math.min(plan.shortfall, balance ?? 0);
}

/** The usage row a settle writes, `extra` being what it took beyond the debit. */
export function usageRow(reservation: ReservationRow, settlement: Settlement, plan: SettlementPlan, extra: number, now: number): BillingUsageTable {
  const { charge } = plan;
  const collected = plan.shortfall > 0 ? plan.debited + extra : charge.amount;
  // Assigned onto a copy, not spread and extended (docs/architecture.md: no hidden class per request).
  const detail: Record<string, unknown> = Object.assign({}, charge.detail, { estimated: reservation.estimated });
  if (collected < charge.amount) detail.uncollected = charge.amount - collected;
  // The upstream's own price of the work (OpenRouter's usage.cost), for the operator to compare with ours.
  if (settlement.upstreamCostUsd !== undefined) detail.upstream_cost_usd = settlement.upstreamCostUsd;
  return {
    key_id: reservation.key_id,
    reservation_id: reservation.id,
    model: reservation.model,
    operation: reservation.operation,
    provider: settlement.provider ?? null,
    channel: settlement.channel ?? null,
    images_requested: reservation.images_requested,
    images_delivered: plan.delivered,
    size: reservation.size,
    quality: reservation.quality,
    price_group: reservation.price_group,
    unit: charge.unit,
    unit_price: charge.unitPrice,
    input_text_tokens: charge.inputTextTokens,
    input_image_tokens: charge.inputImageTokens,
    output_tokens: charge.outputTokens,
    amount: collected,
    metered: plan.metered ? 1 : 0,
    detail: JSON.stringify(detail),
    created_at: now,
  };
}

/** What a backend supplies to the shared queries. */
export interface SqlBillingDialect {
  /**
   * Runs `work` in a write transaction in which a key read by `readKey` cannot change until it
   * commits (SQLite: BEGIN IMMEDIATE takes the write lock first; PostgreSQL: the read locks the row).
   */
  transaction<T>(work: (connection: Kysely<DatabaseSchema>) => Promise<T>): Promise<T>;
  readKey(connection: Kysely<DatabaseSchema>, keyId: string): Promise<KeyBalance | undefined>;
  /** `created_at` (ms) as its UTC day, 'YYYY-MM-DD'. */
  utcDay: RawBuilder<string>;
}

/**
 * The BillingStore's methods both backends run as the same queries; a backend adds reserve, settle,
 * release, the hand-over, leases and the sweep.
 */
export abstract class SqlBillingBooks {
  protected readonly db: Kysely<DatabaseSchema>;
  protected readonly clock: Clock;
  readonly #dialect: SqlBillingDialect;

  protected constructor(db: Kysely<DatabaseSchema>, clock: Clock, dialect: SqlBillingDialect) {
    this.db = db;
    this.clock = clock;
    this.#dialect = dialect;
  }

  /**
   * Retention: drops the pricing arithmetic (`detail`) of usage rows created before `cutoffMs`. The rows
   * themselves stay — balances, /v1/usage and the account's books rest on their amounts.
   */
  async expireDetailOlderThan(cutoffMs: number): Promise<number> {
    const result = await this.db.updateTable('billing_usage').set({ detail: expiredUsageDetail }).where('created_at', '<', cutoffMs).where('detail', '!=', expiredUsageDetail).executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Adds credits to a metered key; answers the new balance. An unlimited key has nothing to top up. */
  async topUp(keyId: string, amount: number, note: string | null, kind: 'initial' | 'topup' = 'topup'): Promise<number> {
    assertCredits(amount, 'amount');
    return this.#dialect.transaction(async (connection) => {
      const key = await this.#dialect.readKey(connection, keyId);
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      if (key.balance === null) throw new GatewayError('conflict', `Key '${keyId}' is unlimited; make it metered (quota) before topping it up.`);
      if (key.balance + amount > maxCredits) {
        throw new GatewayError('invalid_value', `This top-up would bring the balance to ${key.balance + amount} credits, above the largest balance the books hold (${maxCredits} credits, $${creditsToUsd(maxCredits)}).`, { param: 'amount' });
      }
      await connection.updateTable('api_keys').set((expression) => ({ balance: expression('balance', '+', amount) })).where('id', '=', keyId).execute();
      await connection.insertInto('billing_ledger').values({ key_id: keyId, kind, amount, note, created_at: this.clock.now() }).execute();
      return key.balance + amount;
    });
  }

  /**
   * Makes a key unlimited (its remaining balance is written off in the ledger) or metered starting
   * at `initialCredits`. Answers the new balance (null = unlimited).
   */
  async setMetered(keyId: string, metered: boolean, initialCredits = 0, note: string | null = null): Promise<number | null> {
    assertCredits(initialCredits, 'quota');
    return this.#dialect.transaction(async (connection) => {
      const key = await this.#dialect.readKey(connection, keyId);
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      const now = this.clock.now();
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
    const key = await this.db.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst();
    return key?.balance;
  }

  /** The books of one key in one snapshot (one statement), so they balance even while other processes charge the key. */
  async account(keyId: string): Promise<KeyAccount> {
    const row = await sql<{ balance: number | null; granted: number; charged: number; held: number }>`
      SELECT
        (SELECT balance FROM api_keys WHERE id = ${keyId}) AS balance,
        (SELECT coalesce(sum(amount), 0) FROM billing_ledger WHERE key_id = ${keyId}) AS granted,
        (SELECT coalesce(sum(amount), 0) FROM billing_usage WHERE key_id = ${keyId} AND metered = 1) AS charged,
        (SELECT coalesce(sum(debited), 0) FROM billing_reservations WHERE key_id = ${keyId} AND status = 'held') AS held`.execute(this.db);
    const account = row.rows[0];
    return { balance: account?.balance ?? null, granted: Number(account?.granted ?? 0), charged: Number(account?.charged ?? 0), held: Number(account?.held ?? 0) };
  }

  async listUsage(filter: UsageFilter): Promise<UsageRecord[]> {
    let query = this.db.selectFrom('billing_usage').selectAll();
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
    const groupExpression = groupBy === 'model' ? sql<string>`model` : groupBy === 'day' ? this.#dialect.utcDay : sql<string | null>`null`;
    let query = this.db
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
    // By position: both databases group by the first column so.
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
