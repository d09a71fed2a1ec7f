// Operators' price changes in SQLite, layered over catalog/prices.yaml: a change is written here and
// applied to the in-memory PriceBook in the same call, so the next request pays the new price.

import type { Kysely } from 'kysely';
import type { Clock } from '../core/ports/clock.js';
import type { DatabaseSchema } from '../storage/sqlite/schema.js';
import { compileGroup, compilePrice, PriceBook, type PriceFile, type PriceGroupSpec, type PriceOverrides, type PriceSpec } from './price-book.js';

export class SqlitePriceStore {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #clock: Clock;
  readonly #book: PriceBook;

  private constructor(db: Kysely<DatabaseSchema>, clock: Clock, book: PriceBook) {
    this.#db = db;
    this.#clock = clock;
    this.#book = book;
  }

  /** Builds the price book from the file and the stored overrides. */
  static async open(db: Kysely<DatabaseSchema>, file: PriceFile, clock: Clock): Promise<SqlitePriceStore> {
    const overrides: PriceOverrides = { models: {}, groups: {} };
    for (const row of await db.selectFrom('billing_prices').selectAll().execute()) overrides.models[row.model] = JSON.parse(row.spec) as PriceSpec;
    for (const row of await db.selectFrom('billing_price_groups').selectAll().execute()) overrides.groups[row.name] = JSON.parse(row.spec) as PriceGroupSpec;
    return new SqlitePriceStore(db, clock, new PriceBook(file, overrides));
  }

  get book(): PriceBook {
    return this.#book;
  }

  /** Validates, stores and applies one model's price; throws RangeError naming a bad field. */
  async setModelPrice(model: string, spec: unknown): Promise<PriceSpec> {
    const checked = compilePrice(spec, 'price');
    await this.#db
      .insertInto('billing_prices')
      .values({ model, spec: JSON.stringify(checked), updated_at: this.#clock.now() })
      .onConflict((conflict) => conflict.column('model').doUpdateSet({ spec: JSON.stringify(checked), updated_at: this.#clock.now() }))
      .execute();
    this.#book.setModelPrice(model, checked);
    return checked;
  }

  /** Drops an operator's price: the model goes back to the file's price (or to none). */
  async resetModelPrice(model: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('billing_prices').where('model', '=', model).executeTakeFirst();
    this.#book.setModelPrice(model, undefined);
    return result.numDeletedRows > 0n;
  }

  async setGroup(name: string, spec: unknown): Promise<PriceGroupSpec> {
    const checked = compileGroup(spec, 'price group');
    await this.#db
      .insertInto('billing_price_groups')
      .values({ name, spec: JSON.stringify(checked), updated_at: this.#clock.now() })
      .onConflict((conflict) => conflict.column('name').doUpdateSet({ spec: JSON.stringify(checked), updated_at: this.#clock.now() }))
      .execute();
    this.#book.setGroup(name, checked);
    return checked;
  }

  async resetGroup(name: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('billing_price_groups').where('name', '=', name).executeTakeFirst();
    this.#book.setGroup(name, undefined);
    return result.numDeletedRows > 0n;
  }
}
