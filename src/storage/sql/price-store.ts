// Operators' price overrides in SQL, SQLite or Postgres (tables from migration 004), as JSON text.

import type { Kysely } from 'kysely';
import type { PriceStore, StoredPriceOverrides } from '../../core/ports/price-store.js';
import type { DatabaseSchema } from './schema.js';

export class SqlPriceStore implements PriceStore {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async load(): Promise<StoredPriceOverrides> {
    const overrides: StoredPriceOverrides = { models: {}, groups: {} };
    for (const row of await this.#db.selectFrom('billing_prices').selectAll().execute()) overrides.models[row.model] = JSON.parse(row.spec) as unknown;
    for (const row of await this.#db.selectFrom('billing_price_groups').selectAll().execute()) overrides.groups[row.name] = JSON.parse(row.spec) as unknown;
    return overrides;
  }

  async putModelPrice(model: string, spec: unknown, updatedAt: number): Promise<void> {
    const text = JSON.stringify(spec);
    await this.#db
      .insertInto('billing_prices')
      .values({ model, spec: text, updated_at: updatedAt })
      .onConflict((conflict) => conflict.column('model').doUpdateSet({ spec: text, updated_at: updatedAt }))
      .execute();
  }

  async deleteModelPrice(model: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('billing_prices').where('model', '=', model).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async putGroup(name: string, spec: unknown, updatedAt: number): Promise<void> {
    const text = JSON.stringify(spec);
    await this.#db
      .insertInto('billing_price_groups')
      .values({ name, spec: text, updated_at: updatedAt })
      .onConflict((conflict) => conflict.column('name').doUpdateSet({ spec: text, updated_at: updatedAt }))
      .execute();
  }

  async deleteGroup(name: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('billing_price_groups').where('name', '=', name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}
