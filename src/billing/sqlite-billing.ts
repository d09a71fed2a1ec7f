// The Billing port on SQLite: reserve debits the estimate atomically, settle charges what was
// delivered and refunds the rest, release refunds in full — each in one BEGIN IMMEDIATE
// transaction keyed by the reservation id, so concurrent requests (and processes) can never
// overdraw a balance, and a repeated settle or release changes nothing.

import { sql, type Kysely, type Selectable } from 'kysely';
import { GatewayError } from '../core/errors.js';
import type { ReservationRequest, Settlement } from '../core/ports/billing.js';
import type { Clock } from '../core/ports/clock.js';
import type { PixelSize } from '../core/ports/image-model.js';
import type { BillingUsageTable, DatabaseSchema } from '../storage/sql/schema.js';
import { assertCredits, creditsToUsd } from '../core/money.js';
import type { BillingStore, KeyAccount, UsageFilter, UsageRecord, UsageSummaryRow } from '../core/ports/billing-store.js';
import { computeCharge, UnpricedError, type Charge, type ChargeFacts, type PriceBook, type PriceQuote } from './price-book.js';

type Connection = Kysely<DatabaseSchema>;

interface StoredFacts {
  /** Whether the key had a balance at reserve time: settle then charges it (an unlimited key's usage is only recorded). */
  metered: boolean;
  promptCharacters: number;
  inputImageSizes: PixelSize[];
  inputImages: number;
}

/** Default and maximum rows of a usage listing. */
const defaultUsageLimit = 100;
const maxUsageLimit = 1000;

/**
 * Runs `work` in a BEGIN IMMEDIATE transaction on the database's one connection: the write lock is
 * taken before anything is read, so a read-then-write can never interleave with another writer.
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

export interface SqliteBillingOptions {
  db: Connection;
  prices: PriceBook;
  clock: Clock;
}

export class SqliteBilling implements BillingStore {
  readonly #db: Connection;
  readonly #prices: PriceBook;
  readonly #clock: Clock;

  constructor(options: SqliteBillingOptions) {
    this.#db = options.db;
    this.#prices = options.prices;
    this.#clock = options.clock;
  }

  async reserve(request: ReservationRequest): Promise<void> {
    const facts: Omit<StoredFacts, 'metered'> = {
      promptCharacters: request.promptCharacters,
      inputImages: request.inputImages,
      // Without sizes, each input counts as one 512-px tile (the smallest an image can cost).
      inputImageSizes: request.inputImageSizes ?? Array.from({ length: request.inputImages }, () => ({ width: 512, height: 512 })),
    };
    await immediate(this.#db, async (connection) => {
      const key = await connection.selectFrom('api_keys').select(['balance', 'price_group']).where('id', '=', request.keyId).executeTakeFirst();
      if (!key) throw new GatewayError('invalid_api_key', 'The API key of this request no longer exists.');
      const metered = key.balance !== null;
      const quote = this.#prices.quote(request.model, key.price_group);
      let estimated = 0;
      if (quote) {
        try {
          estimated = computeCharge(quote, chargeFacts(request, facts, request.imagesRequested)).amount;
        } catch (error) {
          if (!(error instanceof UnpricedError)) throw error;
          if (metered) throw unpriced(request.model, error);
        }
      } else if (metered) {
        throw unpriced(request.model, undefined);
      }
      const inserted = await connection
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
          facts: JSON.stringify({ ...facts, metered } satisfies StoredFacts),
          estimated,
          debited: metered ? estimated : 0,
          status: 'held',
          created_at: this.#clock.now(),
          closed_at: null,
        })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .executeTakeFirst();
      if (inserted.numInsertedOrUpdatedRows === 0n) {
        // A client-chosen request id seen before: reusing it must not ride on the first request's money.
        throw new GatewayError('conflict', `A request with id '${request.reservationId}' was already made; send a new X-Request-Id for each request.`);
      }
      if (!metered || estimated === 0) return;
      // The one statement that guards the balance: it debits only when the balance covers the
      // whole estimate, so under any concurrency a balance can reach zero but never pass it.
      const debited = await connection
        .updateTable('api_keys')
        .set((expression) => ({ balance: expression('balance', '-', estimated) }))
        .where('id', '=', request.keyId)
        .where('balance', '>=', estimated)
        .executeTakeFirst();
      if (debited.numUpdatedRows === 0n) {
        throw new GatewayError(
          'insufficient_quota',
          `You exceeded your current quota: this request needs up to $${creditsToUsd(estimated)} (${estimated} credits) and the key has $${creditsToUsd(key.balance ?? 0)} (${key.balance ?? 0} credits) left. Ask the operator to top it up.`,
        );
      }
    });
  }

  async settle(reservationId: string, settlement: Settlement): Promise<void> {
    await immediate(this.#db, async (connection) => {
      const reservation = await connection.selectFrom('billing_reservations').selectAll().where('id', '=', reservationId).where('status', '=', 'held').executeTakeFirst();
      if (!reservation) return;
      const key = await connection.selectFrom('api_keys').select(['balance']).where('id', '=', reservation.key_id).executeTakeFirst();
      const quote = JSON.parse(reservation.pricing) as PriceQuote | null;
      const facts = JSON.parse(reservation.facts) as StoredFacts;
      const delivered = Math.min(settlement.imagesDelivered, reservation.images_requested);
      const charge = this.#chargeFor(quote, reservation, facts, delivered, settlement);
      const now = this.#clock.now();

      const metered = facts.metered;
      let collected = charge.amount;
      const detail: Record<string, unknown> = { ...charge.detail, estimated: reservation.estimated };
      if (metered) {
        if (charge.amount <= reservation.debited) {
          await refund(connection, reservation.key_id, reservation.debited - charge.amount, key?.balance ?? null, now);
        } else {
          // Reported usage above the estimate: take what the balance still holds, never more.
          const extra = Math.min(charge.amount - reservation.debited, key?.balance ?? 0);
          if (extra > 0) {
            await connection
              .updateTable('api_keys')
              .set((expression) => ({ balance: expression('balance', '-', extra) }))
              .where('id', '=', reservation.key_id)
              .where('balance', '>=', extra)
              .execute();
          }
          collected = reservation.debited + extra;
          if (collected < charge.amount) detail.uncollected = charge.amount - collected;
        }
      }

      await connection.updateTable('billing_reservations').set({ status: 'settled', closed_at: now }).where('id', '=', reservationId).execute();
      await connection
        .insertInto('billing_usage')
        .values({
          reservation_id: reservationId,
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
          amount: metered ? collected : charge.amount,
          metered: metered ? 1 : 0,
          detail: JSON.stringify(detail),
          created_at: now,
        })
        .execute();
    });
  }

  async release(reservationId: string): Promise<void> {
    await immediate(this.#db, async (connection) => {
      const reservation = await connection.selectFrom('billing_reservations').select(['key_id', 'debited']).where('id', '=', reservationId).where('status', '=', 'held').executeTakeFirst();
      if (!reservation) return;
      const now = this.#clock.now();
      await connection.updateTable('billing_reservations').set({ status: 'released', closed_at: now }).where('id', '=', reservationId).execute();
      if (reservation.debited > 0) {
        const key = await connection.selectFrom('api_keys').select(['balance']).where('id', '=', reservation.key_id).executeTakeFirst();
        await refund(connection, reservation.key_id, reservation.debited, key?.balance ?? null, now);
      }
    });
  }

  /** Adds credits to a metered key; answers the new balance. An unlimited key has nothing to top up. */
  async topUp(keyId: string, amount: number, note: string | null, kind: 'initial' | 'topup' = 'topup'): Promise<number> {
    assertCredits(amount, 'amount');
    return immediate(this.#db, async (connection) => {
      const key = await connection.selectFrom('api_keys').select(['balance']).where('id', '=', keyId).executeTakeFirst();
      if (!key) throw new GatewayError('not_found', `No API key with id '${keyId}'.`);
      if (key.balance === null) throw new GatewayError('conflict', `Key '${keyId}' is unlimited; make it metered (quota) before topping it up.`);
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

  #chargeFor(
    quote: PriceQuote | null,
    reservation: { model: string; size: string; quality: string | null; estimated: number; images_requested: number },
    facts: StoredFacts,
    delivered: number,
    settlement: Settlement,
  ): Charge {
    const free: Charge = { amount: 0, unit: 'image', unitPrice: 0, inputTextTokens: null, inputImageTokens: null, outputTokens: null, detail: { unpriced: true } };
    if (delivered === 0) return { ...free, detail: { nothing_delivered: true } };
    if (!quote) return free;
    try {
      return computeCharge(quote, {
        size: reservation.size,
        quality: reservation.quality ?? undefined,
        images: delivered,
        promptCharacters: facts.promptCharacters,
        inputImageSizes: facts.inputImageSizes,
        usage: settlement.usage,
      });
    } catch (error) {
      if (!(error instanceof UnpricedError)) throw error;
      // Priced at reserve time, so this cannot happen with the same facts; charge the estimate pro rata.
      return { ...free, amount: Math.floor((reservation.estimated * delivered) / reservation.images_requested), detail: { pro_rata_of_estimate: true } };
    }
  }
}

function chargeFacts(request: ReservationRequest, facts: Omit<StoredFacts, 'metered'>, images: number): ChargeFacts {
  return { size: request.size, quality: request.quality, images, promptCharacters: facts.promptCharacters, inputImageSizes: facts.inputImageSizes };
}

function unpriced(model: string, cause: unknown): GatewayError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new GatewayError(
    'permission_denied',
    `The model '${model}' has no price set${reason}, so keys with a quota cannot use it. Ask the operator to set one (PUT /admin/v1/prices/${model}).`,
    { param: 'model', cause },
  );
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
