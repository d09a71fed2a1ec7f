// The request log in SQL (SQLite or Postgres): record() only buffers; batches are written off the request path.

import type { Kysely, Selectable } from 'kysely';
import type { RequestDetails, RequestLog, RequestLogEntry, RequestLogQuery } from '../../core/ports/request-log.js';
import type { DatabaseSchema, RequestLogsTable } from './schema.js';

export interface SqlRequestLogOptions {
  /** How often buffered entries are written; default 250 ms. */
  flushIntervalMs?: number;
  /** A buffer this long is written at once instead of waiting for the timer; default 500. */
  batchSize?: number;
  /**
   * Entries kept while the database refuses writes; beyond it the oldest are dropped, so a broken
   * disk cannot grow memory without bound. Default 50 000.
   */
  maxBufferedEntries?: number;
  /** Told about background write failures and dropped entries (the caller's logger); default: a process warning. */
  onError?: (error: unknown, context: { droppedEntries: number }) => void;
  /**
   * Writes a batch's rows instead of one Kysely transaction (resolving once they are stored). SQLite
   * passes its group commit (storage/sqlite/request-log-rows.ts), so a batch never holds the event
   * loop or waits there for the write lock.
   */
  writeRows?: (rows: RequestLogsTable[]) => Promise<void>;
}

/** Rows per INSERT statement: 14 columns × 200 rows stays well below SQLite's bound-parameter limit. */
const rowsPerStatement = 200;
const defaultQueryLimit = 100;
/** Rows one retention DELETE removes. */
const deleteBatch = 5_000;

export class SqlRequestLog implements RequestLog {
  readonly #db: Kysely<DatabaseSchema>;
  readonly #batchSize: number;
  readonly #maxBufferedEntries: number;
  readonly #onError: NonNullable<SqlRequestLogOptions['onError']>;
  readonly #writeRows: SqlRequestLogOptions['writeRows'];
  readonly #timer: NodeJS.Timeout;
  /** Rows as they will be written: made once, when recorded. */
  #buffer: RequestLogsTable[] = [];
  #writing: Promise<void> | undefined;
  #closed = false;

  constructor(db: Kysely<DatabaseSchema>, options: SqlRequestLogOptions = {}) {
    this.#db = db;
    this.#batchSize = positiveInteger(options.batchSize ?? 500, 'batchSize');
    this.#maxBufferedEntries = positiveInteger(options.maxBufferedEntries ?? 50_000, 'maxBufferedEntries');
    this.#onError =
      options.onError ??
      ((error, context) => process.emitWarning(`Request log write failed (${context.droppedEntries} entries dropped): ${String(error)}`));
    this.#writeRows = options.writeRows;
    const interval = positiveInteger(options.flushIntervalMs ?? 250, 'flushIntervalMs');
    this.#timer = setInterval(() => this.#flushInBackground(), interval);
    // The log must never be the reason a process stays alive.
    this.#timer.unref();
  }

  record(entry: RequestLogEntry): void {
    if (this.#closed) {
      this.#onError(new Error('request log is closed'), { droppedEntries: 1 });
      return;
    }
    // Copy only the declared fields: whatever else rides on the object (image data, secrets) is never stored.
    this.#buffer.push(toRow(entry));
    if (this.#buffer.length >= this.#batchSize) this.#flushInBackground();
  }

  /** Writes everything recorded so far, including a batch the timer is already writing. */
  async flush(): Promise<void> {
    while (this.#writing !== undefined || this.#buffer.length > 0) {
      if (this.#writing !== undefined) {
        // The background writer reports its own failures; this call only waits for it to settle.
        await this.#writing.catch(() => undefined);
        continue;
      }
      await this.#startWrite();
    }
  }

  async query(filter: RequestLogQuery): Promise<RequestLogEntry[]> {
    let query = this.#db.selectFrom('request_logs').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.requestId !== undefined) query = query.where('request_id', '=', filter.requestId);
    if (filter.model !== undefined) query = query.where('model', '=', filter.model);
    if (filter.channel !== undefined) query = query.where('channel', '=', filter.channel);
    if (filter.outcome === 'succeeded') query = query.where('status', '<', 400);
    if (filter.outcome === 'failed') query = query.where('status', '>=', 400);
    if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(filter.limit ?? defaultQueryLimit)
      .execute();
    return rows.map(toEntry);
  }

  /** Deletes in batches, so a large backlog never holds the write lock for long. */
  async deleteOlderThan(cutoffMs: number): Promise<number> {
    let deleted = 0;
    for (;;) {
      const result = await this.#db
        .deleteFrom('request_logs')
        .where('id', 'in', (expression) => expression.selectFrom('request_logs').select('id').where('created_at', '<', cutoffMs).limit(deleteBatch))
        .executeTakeFirst();
      const count = Number(result.numDeletedRows);
      deleted += count;
      if (count < deleteBatch) return deleted;
    }
  }

  async get(id: string, keyId?: string): Promise<RequestLogEntry | undefined> {
    let byRowId = this.#db.selectFrom('request_logs').selectAll().where('id', '=', id);
    if (keyId !== undefined) byRowId = byRowId.where('key_id', '=', keyId);
    const row = await byRowId.executeTakeFirst();
    if (row !== undefined) return toEntry(row);
    let byRequestId = this.#db.selectFrom('request_logs').selectAll().where('request_id', '=', id);
    if (keyId !== undefined) byRequestId = byRequestId.where('key_id', '=', keyId);
    const latest = await byRequestId.orderBy('created_at', 'desc').limit(1).executeTakeFirst();
    return latest === undefined ? undefined : toEntry(latest);
  }

  /** Writes what is pending and stops the timer; later record() calls are dropped and reported. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.flush();
  }

  #flushInBackground(): void {
    if (this.#writing !== undefined || this.#buffer.length === 0) return;
    this.#startWrite().catch(() => undefined);
  }

  /** Takes the whole buffer and writes it in one transaction; on failure the entries go back to the front. */
  #startWrite(): Promise<void> {
    const batch = this.#buffer;
    this.#buffer = [];
    const writing = this.#write(batch)
      .catch((error: unknown) => {
        this.#buffer = batch.concat(this.#buffer);
        const overflow = this.#buffer.length - this.#maxBufferedEntries;
        if (overflow > 0) this.#buffer.splice(0, overflow);
        this.#onError(error, { droppedEntries: Math.max(0, overflow) });
        throw error;
      })
      .finally(() => {
        this.#writing = undefined;
      });
    this.#writing = writing;
    return writing;
  }

  async #write(batch: RequestLogsTable[]): Promise<void> {
    if (this.#writeRows) return this.#writeRows(batch);
    await this.#db.transaction().execute(async (transaction) => {
      for (let offset = 0; offset < batch.length; offset += rowsPerStatement) {
        const rows = batch.slice(offset, offset + rowsPerStatement);
        // A batch retried after a failure may repeat ids that did get written; the first write wins.
        await transaction.insertInto('request_logs').values(rows).onConflict((conflict) => conflict.column('id').doNothing()).execute();
      }
    });
  }
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  return value;
}

function toRow(entry: RequestLogEntry): RequestLogsTable {
  return {
    id: entry.id,
    request_id: entry.requestId,
    key_id: entry.keyId,
    endpoint: entry.endpoint,
    model: entry.model,
    provider: entry.provider,
    channel: entry.channel,
    status: entry.status,
    images_requested: entry.imagesRequested,
    images_delivered: entry.imagesDelivered,
    size: entry.size,
    latency_ms: entry.latencyMs,
    error_code: entry.errorCode,
    created_at: entry.createdAt,
    client_ip: entry.clientIp ?? null,
    details: entry.details ? JSON.stringify(entry.details) : null,
  };
}

function toEntry(row: Selectable<RequestLogsTable>): RequestLogEntry {
  return {
    id: row.id,
    // Rows written before migration 090 carry their request id as their row id.
    requestId: row.request_id ?? row.id,
    keyId: row.key_id,
    endpoint: row.endpoint,
    model: row.model,
    provider: row.provider,
    channel: row.channel,
    status: row.status,
    imagesRequested: row.images_requested,
    imagesDelivered: row.images_delivered,
    size: row.size,
    latencyMs: row.latency_ms,
    errorCode: row.error_code,
    createdAt: row.created_at,
    clientIp: row.client_ip ?? null,
    details: row.details ? (JSON.parse(row.details) as RequestDetails) : null,
  };
}
