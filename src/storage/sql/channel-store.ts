// Channels in SQL (SQLite or Postgres, the same Kysely queries): read once at start and after every change, so lookups never sit on a request path.

import type { Insertable, Kysely, Selectable } from 'kysely';
import type { ChannelRecord, ChannelStore } from '../../core/ports/channel-store.js';
import { clearTextBox, type SecretBox } from '../../secrets/secret-box.js';
import type { ChannelsTable, DatabaseSchema } from './schema.js';

export class SqlChannelStore implements ChannelStore {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #box: Pick<SecretBox, 'seal' | 'open' | 'isSealed'>;

  /** With a secret box, upstream API keys are stored encrypted (the `api_keys` column holds sealed JSON). */
  constructor(db: Kysely<DatabaseSchema>, box?: SecretBox) {
    this.#db = db;
    this.#box = box ?? clearTextBox;
  }

  /**
   * Encrypts the api_keys of rows written before keys were encrypted (or by a store without a box);
   * run at start. Answers how many rows it sealed.
   */
  async sealStoredKeys(): Promise<number> {
    return this.#db.transaction().execute(async (transaction) => {
      const rows = await transaction.selectFrom('channels').select(['name', 'api_keys']).execute();
      let sealed = 0;
      for (const row of rows) {
        if (this.#box.isSealed(row.api_keys)) continue;
        await transaction.updateTable('channels').set({ api_keys: this.#box.seal(row.api_keys) }).where('name', '=', row.name).execute();
        sealed += 1;
      }
      return sealed;
    });
  }

  async list(): Promise<ChannelRecord[]> {
    const rows = await this.#db.selectFrom('channels').selectAll().orderBy('name').execute();
    return rows.map((row) => toRecord(row, this.#box));
  }

  async get(name: string): Promise<ChannelRecord | undefined> {
    const row = await this.#db.selectFrom('channels').selectAll().where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row, this.#box);
  }

  async insert(record: ChannelRecord): Promise<boolean> {
    const result = await this.#db
      .insertInto('channels')
      .values(toRow(record, this.#box))
      .onConflict((conflict) => conflict.column('name').doNothing())
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async replace(record: ChannelRecord): Promise<boolean> {
    const { name, ...fields } = toRow(record, this.#box);
    const result = await this.#db.updateTable('channels').set(fields).where('name', '=', name).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async setEnabled(name: string, enabled: boolean, reason: string | null, updatedAt: number): Promise<boolean> {
    const result = await this.#db
      .updateTable('channels')
      .set({ enabled: enabled ? 1 : 0, disabled_reason: enabled ? null : reason, updated_at: updatedAt })
      .where('name', '=', name)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async remove(name: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('channels').where('name', '=', name).executeTakeFirst();
    return result.numDeletedRows > 0n;
  }
}

function toRow(record: ChannelRecord, box: Pick<SecretBox, 'seal'>): Insertable<ChannelsTable> & { name: string } {
  return {
    name: record.name,
    provider: record.provider,
    base_url: record.baseUrl,
    api_keys: box.seal(JSON.stringify(record.apiKeys)),
    models: JSON.stringify(record.models),
    model_map: JSON.stringify(record.modelMap),
    priority: record.priority,
    weight: record.weight,
    enabled: record.enabled ? 1 : 0,
    disabled_reason: record.enabled ? null : record.disabledReason,
    max_concurrency: record.maxConcurrency,
    max_queue: record.maxQueue,
    timeout_ms: record.timeoutMs,
    poll_interval_ms: record.pollIntervalMs,
    options: JSON.stringify(record.options),
    source: record.source,
    config_hash: record.configHash,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

function toRecord(row: Selectable<ChannelsTable>, box: Pick<SecretBox, 'open'>): ChannelRecord {
  return {
    name: row.name,
    provider: row.provider,
    baseUrl: row.base_url,
    apiKeys: JSON.parse(box.open(row.api_keys)) as string[],
    models: JSON.parse(row.models) as string[],
    modelMap: JSON.parse(row.model_map) as Record<string, string>,
    priority: row.priority,
    weight: row.weight,
    enabled: row.enabled === 1,
    disabledReason: row.disabled_reason,
    maxConcurrency: row.max_concurrency,
    maxQueue: row.max_queue,
    timeoutMs: row.timeout_ms,
    pollIntervalMs: row.poll_interval_ms,
    options: JSON.parse(row.options) as Record<string, unknown>,
    source: row.source === 'config' ? 'config' : 'admin',
    configHash: row.config_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
