// API keys in SQL (SQLite or Postgres): looked up by the sha256 of the secret on every authenticated request.

import type { Kysely, Selectable, Updateable } from 'kysely';
import type { ApiKeyPatch, ApiKeyRecord, KeyStore } from '../../core/ports/key-store.js';
import type { ApiKeysTable, DatabaseSchema } from './schema.js';

export class SqlKeyStore implements KeyStore {
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
        balance: record.balance,
        allowed_models: jsonOrNull(record.allowedModels),
        ip_allowlist: jsonOrNull(record.ipAllowlist),
        requests_per_minute: record.rateLimits.requestsPerMinute,
        images_per_minute: record.rateLimits.imagesPerMinute,
        concurrent_requests: record.rateLimits.concurrentRequests,
        price_group: record.priceGroup,
        revoked_at: record.revokedAt,
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

  async findById(id: string): Promise<ApiKeyRecord | undefined> {
    const row = await this.#db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async update(id: string, patch: ApiKeyPatch): Promise<ApiKeyRecord | undefined> {
    const values: Updateable<ApiKeysTable> = {};
    if (patch.name !== undefined) values.name = patch.name;
    if (patch.expiresAt !== undefined) values.expires_at = patch.expiresAt;
    if (patch.allowedModels !== undefined) values.allowed_models = jsonOrNull(patch.allowedModels);
    if (patch.ipAllowlist !== undefined) values.ip_allowlist = jsonOrNull(patch.ipAllowlist);
    if (patch.rateLimits !== undefined) {
      values.requests_per_minute = patch.rateLimits.requestsPerMinute;
      values.images_per_minute = patch.rateLimits.imagesPerMinute;
      values.concurrent_requests = patch.rateLimits.concurrentRequests;
    }
    if (patch.priceGroup !== undefined) values.price_group = patch.priceGroup;
    const enabled = patch.enabled;
    await this.#db.transaction().execute(async (transaction) => {
      if (Object.keys(values).length > 0) await transaction.updateTable('api_keys').set(values).where('id', '=', id).execute();
      if (enabled !== undefined) {
        // A revoked key is never enabled again, whatever the patch says.
        await transaction.updateTable('api_keys').set({ enabled: enabled ? 1 : 0 }).where('id', '=', id).where('revoked_at', 'is', null).execute();
      }
    });
    return this.findById(id);
  }

  async revoke(id: string, at: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('api_keys')
      .set((expression) => ({ enabled: 0, revoked_at: expression.fn.coalesce('revoked_at', expression.val(at)) }))
      .where('id', '=', id)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

const jsonOrNull = (value: string[] | null): string | null => (value === null ? null : JSON.stringify(value));

function parseList(text: string | null): string[] | null {
  if (text === null) return null;
  const value: unknown = JSON.parse(text);
  return Array.isArray(value) ? value.map(String) : null;
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
    balance: row.balance,
    allowedModels: parseList(row.allowed_models),
    ipAllowlist: parseList(row.ip_allowlist),
    rateLimits: {
      requestsPerMinute: row.requests_per_minute,
      imagesPerMinute: row.images_per_minute,
      concurrentRequests: row.concurrent_requests,
    },
    priceGroup: row.price_group,
    revokedAt: row.revoked_at,
  };
}
