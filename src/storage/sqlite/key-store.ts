// API keys in SQLite: looked up by the sha256 of the secret on every authenticated request.

import type { Kysely, Selectable } from 'kysely';
import type { ApiKeyRecord, KeyStore } from '../../core/ports/key-store.js';
import type { ApiKeysTable, DatabaseSchema } from './schema.js';

export class SqliteKeyStore implements KeyStore {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db.selectFrom('api_keys').selectAll().where('hash', '=', hash).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async insert(record: ApiKeyRecord): Promise<void> {
    await this.#db
      .insertInto('api_keys')
      .values({
        id: record.id,
        name: record.name,
        hash: record.hash,
        prefix: record.prefix,
        enabled: record.enabled ? 1 : 0,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
        source: record.source,
      })
      // Keys from the environment are inserted at every start; the same secret must not fail or duplicate.
      .onConflict((conflict) => conflict.column('hash').doNothing())
      .execute();
  }

  async count(): Promise<number> {
    const row = await this.#db
      .selectFrom('api_keys')
      .select((expression) => expression.fn.countAll<number>().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.#db.selectFrom('api_keys').selectAll().orderBy('created_at').orderBy('id').execute();
    return rows.map(toRecord);
  }

  async setEnabled(id: string, enabled: boolean): Promise<boolean> {
    const result = await this.#db
      .updateTable('api_keys')
      .set({ enabled: enabled ? 1 : 0 })
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

function toRecord(row: Selectable<ApiKeysTable>): ApiKeyRecord {
  return {
    id: row.id,
    name: row.name,
    hash: row.hash,
    prefix: row.prefix,
    enabled: row.enabled === 1,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    source: row.source as ApiKeyRecord['source'],
  };
}
