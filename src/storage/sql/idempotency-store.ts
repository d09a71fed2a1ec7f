// Idempotency records in SQL, SQLite or Postgres (migration 002); the primary key makes two
// processes sharing the database agree on which of two identical requests runs.

import type { Kysely, Selectable } from 'kysely';
import type { DatabaseSchema, IdempotencyKeysTable } from './schema.js';
import type { IdempotencyRecord, IdempotencyStore, StoredResponse } from '../../core/ports/idempotency-store.js';

export class SqlIdempotencyStore implements IdempotencyStore {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async insertRunning(record: Parameters<IdempotencyStore['insertRunning']>[0]): Promise<boolean> {
    const result = await this.#db
      .insertInto('idempotency_keys')
      .values({
        key_id: record.keyId,
        idempotency_key: record.idempotencyKey,
        request_hash: record.requestHash,
        state: 'running',
        owner: record.owner,
        locked_until: record.lockedUntil,
        response: null,
        created_at: record.createdAt,
        expires_at: record.expiresAt,
      })
      .onConflict((conflict) => conflict.columns(['key_id', 'idempotency_key']).doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async get(keyId: string, idempotencyKey: string): Promise<IdempotencyRecord | undefined> {
    const row = await this.#db
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idempotencyKey)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async takeOver(keyId: string, idempotencyKey: string, owner: string, now: number, lockedUntil: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('idempotency_keys')
      .set({ owner, locked_until: lockedUntil })
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idempotencyKey)
      .where('state', '=', 'running')
      .where('locked_until', '<=', now)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async complete(keyId: string, idempotencyKey: string, owner: string, response: StoredResponse): Promise<boolean> {
    const result = await this.#db
      .updateTable('idempotency_keys')
      .set({ state: 'done', response: JSON.stringify(response), locked_until: null })
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idempotencyKey)
      .where('owner', '=', owner)
      .where('state', '=', 'running')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async abandon(keyId: string, idempotencyKey: string, owner: string): Promise<void> {
    await this.#db
      .deleteFrom('idempotency_keys')
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idempotencyKey)
      .where('owner', '=', owner)
      .where('state', '=', 'running')
      .execute();
  }

  async deleteIfExpired(keyId: string, idempotencyKey: string, now: number): Promise<void> {
    await this.#db
      .deleteFrom('idempotency_keys')
      .where('key_id', '=', keyId)
      .where('idempotency_key', '=', idempotencyKey)
      .where('expires_at', '<=', now)
      .execute();
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('idempotency_keys').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toRecord(row: Selectable<IdempotencyKeysTable>): IdempotencyRecord {
  return {
    keyId: row.key_id,
    idempotencyKey: row.idempotency_key,
    requestHash: row.request_hash,
    state: row.state === 'done' ? 'done' : 'running',
    owner: row.owner,
    lockedUntil: row.locked_until,
    response: row.response === null ? null : (JSON.parse(row.response) as StoredResponse),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
