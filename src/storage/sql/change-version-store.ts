// The change counters (table change_versions, migration 060) in portable Kysely, for SQLite and Postgres.

import { sql, type Kysely } from 'kysely';
import type { ChangeTopic, ChangeVersionStore } from '../../core/ports/change-feed.js';
import type { DatabaseSchema } from './schema.js';

export class SqlChangeVersionStore implements ChangeVersionStore {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async raise(topic: ChangeTopic): Promise<void> {
    await this.#db
      .insertInto('change_versions')
      .values({ topic, version: 1 })
      .onConflict((conflict) => conflict.column('topic').doUpdateSet({ version: sql`change_versions.version + 1` }))
      .execute();
  }

  async read(): Promise<Map<string, number>> {
    const rows = await this.#db.selectFrom('change_versions').select(['topic', 'version']).execute();
    // Postgres answers BIGINT as text.
    return new Map(rows.map((row) => [row.topic, Number(row.version)]));
  }
}
