// SqlRequestLog's batching: the timer and the batch size write buffered entries, close() writes the
// rest, and a failed write keeps the entries for the next attempt (within a bound).

import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { RequestLogEntry } from '../../core/ports/request-log.js';
import { openSqliteDatabase, type SqliteDatabase } from './database.js';
import { migrate } from './migrate.js';
import { SqlRequestLog, type SqlRequestLogOptions } from '../sql/request-log.js';
import { GroupCommit } from './group-commit.js';
import { groupCommittedRequestLogRows } from './request-log-rows.js';

const hour = 3_600_000;

function entry(index: number): RequestLogEntry {
  return {
    id: `log_${index}`,
    requestId: `req_${index}`,
    keyId: 'key_a',
    endpoint: '/v1/images/generations',
    model: 'gpt-image-1',
    provider: 'offline',
    channel: 'local',
    status: 200,
    imagesRequested: 1,
    imagesDelivered: 1,
    size: '1024x1024',
    latencyMs: 12,
    errorCode: null,
    createdAt: 1_700_000_000_000 + index,
  };
}

// Each batch in one Kysely transaction (PostgreSQL, and the default), and through SQLite's group commit
// a few dozen rows per transaction (as the gateway writes it on SQLite).
describe.each([
  { writer: 'a Kysely transaction', groupCommitted: false },
  { writer: 'the group commit', groupCommitted: true },
])('SqlRequestLog batching through $writer', ({ groupCommitted }) => {
  let database: SqliteDatabase;
  const logs: SqlRequestLog[] = [];
  const createLog = (options: SqlRequestLogOptions) => {
    const writeRows = groupCommitted ? { writeRows: groupCommittedRequestLogRows(database.native, GroupCommit.forDatabase(database)) } : {};
    const log = new SqlRequestLog(database.db, { ...options, ...writeRows });
    logs.push(log);
    return log;
  };
  const storedIds = async () => (await database.db.selectFrom('request_logs').select('id').orderBy('created_at').execute()).map((row) => row.id);

  beforeEach(async () => {
    database = openSqliteDatabase({ file: ':memory:' });
    await migrate(database.db);
  });

  afterEach(async () => {
    await Promise.all(logs.splice(0).map((log) => log.close().catch(() => undefined)));
    await database.close();
  });

  it('writes buffered entries on its timer without anyone calling flush', async () => {
    const log = createLog({ flushIntervalMs: 10 });
    log.record(entry(1));
    log.record(entry(2));
    await vi.waitFor(async () => expect(await storedIds()).toStrictEqual(['log_1', 'log_2']), { timeout: 5_000, interval: 10 });
  });

  it('writes as soon as a full batch is buffered, and buffers anything smaller', async () => {
    const log = createLog({ flushIntervalMs: hour, batchSize: 10 });
    for (let index = 0; index < 10; index += 1) log.record(entry(index));
    await vi.waitFor(async () => expect(await storedIds()).toHaveLength(10), { timeout: 5_000, interval: 10 });

    for (let index = 10; index < 19; index += 1) log.record(entry(index));
    // Nine entries are below the batch size and the timer is an hour away: still only in memory.
    expect(await storedIds()).toHaveLength(10);
    await log.flush();
    expect(await storedIds()).toHaveLength(19);
  });

  it('writes a batch larger than one transaction takes, every entry with every field', async () => {
    const log = createLog({ flushIntervalMs: hour });
    for (let index = 0; index < 120; index += 1) log.record({ ...entry(index), clientIp: '203.0.113.9', details: { prompt: `fox ${index}` } });
    await log.flush();
    expect(await storedIds()).toStrictEqual(Array.from({ length: 120 }, (_, index) => `log_${index}`));
    expect(await log.get('log_119')).toStrictEqual({ ...entry(119), clientIp: '203.0.113.9', details: { prompt: 'fox 119' } });
  });

  it('close() writes what is pending, and entries recorded afterwards are reported, not stored', async () => {
    const failures: unknown[] = [];
    const log = createLog({ flushIntervalMs: hour, onError: (error) => failures.push(error) });
    log.record(entry(1));
    await log.close();
    expect(await storedIds()).toStrictEqual(['log_1']);

    log.record(entry(2));
    expect(failures).toHaveLength(1);
    await log.flush();
    expect(await storedIds()).toStrictEqual(['log_1']);
  });

  it('keeps entries through a failed write and stores them once the database accepts writes again', async () => {
    await sql`CREATE TABLE refuse_writes (flag INTEGER)`.execute(database.db);
    await sql`INSERT INTO refuse_writes VALUES (1)`.execute(database.db);
    await sql`CREATE TRIGGER request_logs_refuse BEFORE INSERT ON request_logs WHEN EXISTS (SELECT 1 FROM refuse_writes)
      BEGIN SELECT RAISE(ABORT, 'disk says no'); END`.execute(database.db);
    const failures: { error: unknown; droppedEntries: number }[] = [];
    const log = createLog({ flushIntervalMs: hour, maxBufferedEntries: 3, onError: (error, context) => failures.push({ error, ...context }) });

    log.record(entry(1));
    log.record(entry(2));
    await expect(log.flush()).rejects.toThrow(/disk says no/);
    log.record(entry(3));
    log.record(entry(4));
    await expect(log.flush()).rejects.toThrow(/disk says no/);
    // Four entries against a bound of three: the oldest is the one given up, and that is reported.
    expect(failures.map((failure) => failure.droppedEntries)).toStrictEqual([0, 1]);

    await sql`DELETE FROM refuse_writes`.execute(database.db);
    await log.flush();
    expect(await storedIds()).toStrictEqual(['log_2', 'log_3', 'log_4']);
  });

  it('a write that fails part-way through a batch stores every entry exactly once when retried', async () => {
    // Through the group commit a unit of rows has no savepoint: the rows before the failing one stay
    // written, and the retry must skip them rather than fail on them or store them twice.
    await sql`CREATE TABLE refuse_writes (flag INTEGER)`.execute(database.db);
    await sql`INSERT INTO refuse_writes VALUES (1)`.execute(database.db);
    await sql`CREATE TRIGGER request_logs_refuse_third BEFORE INSERT ON request_logs WHEN NEW.id = 'log_3' AND EXISTS (SELECT 1 FROM refuse_writes)
      BEGIN SELECT RAISE(ABORT, 'disk says no'); END`.execute(database.db);
    const log = createLog({ flushIntervalMs: hour, onError: () => undefined });
    for (const index of [1, 2, 3, 4]) log.record(entry(index));
    await expect(log.flush()).rejects.toThrow(/disk says no/);

    await sql`DELETE FROM refuse_writes`.execute(database.db);
    await log.flush();
    expect(await storedIds()).toStrictEqual(['log_1', 'log_2', 'log_3', 'log_4']);
  });

  it('refuses settings that could never flush', () => {
    expect(() => createLog({ batchSize: 0 })).toThrow(RangeError);
    expect(() => createLog({ flushIntervalMs: -1 })).toThrow(RangeError);
  });
});
