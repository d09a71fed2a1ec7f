// Opens the embedded SQLite database (better-sqlite3 behind Kysely) with the pragmas the stores rely on.

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDialectConfig } from 'kysely';
import type { DatabaseSchema } from '../sql/schema.js';

export interface SqliteDatabase {
  db: Kysely<DatabaseSchema>;
  /**
   * The same connection without the query builder, for hot paths that run prepared statements in
   * one synchronous transaction. Use it only inside `db.connection().execute(…)`, which holds
   * Kysely's connection lock, so it never runs inside a Kysely transaction that is awaiting.
   */
  native: Database.Database;
  /** Closes the connection; safe to call more than once. */
  close(): Promise<void>;
}

export interface SqliteDatabaseOptions {
  /** Path of the database file, or `:memory:` for a private in-memory database (tests). */
  file: string;
  /**
   * Checkpoint the WAL from a worker thread instead of inside whichever commit crosses 1,000 pages.
   * SQLite's automatic checkpoint copies the WAL into the database and fsyncs both on the committing
   * thread, which here is the event loop: a stall of several milliseconds every few thousand writes.
   * The gateway turns this on; short-lived uses (tests, the CLI) keep SQLite's default.
   */
  backgroundCheckpoints?: boolean;
}

/** How often the background checkpointer runs; the WAL then holds at most a quarter second of writes. */
const checkpointIntervalMs = 250;

/**
 * The checkpointer: its own connection in a worker thread, running PASSIVE checkpoints (they never
 * wait for or block the writer). CommonJS source evaluated in the worker, so it needs no loader.
 */
const checkpointerSource = `
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const database = new Database(workerData.file);
database.pragma('busy_timeout = 5000');
const timer = setInterval(() => {
  try { database.pragma('wal_checkpoint(PASSIVE)'); } catch { /* busy or closing: the next round catches up */ }
}, workerData.intervalMs);
parentPort.on('message', () => { clearInterval(timer); database.close(); process.exit(0); });
`;

/** Starts the checkpointer; if it ever stops, SQLite's automatic checkpoints are switched back on. */
function startBackgroundCheckpoints(database: Database.Database, file: string): () => Promise<void> {
  database.pragma('wal_autocheckpoint = 0');
  // A burst may still grow the WAL; once checkpointed it is cut back to this size rather than kept.
  database.pragma(`journal_size_limit = ${16 * 1024 * 1024}`);
  const worker = new Worker(checkpointerSource, {
    eval: true,
    workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: checkpointIntervalMs },
  });
  // The checkpointer must never be what keeps a process alive.
  worker.unref();
  let stopping = false;
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const fallBack = () => {
    if (!stopping && database.open) database.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('error', fallBack);
  worker.on('exit', fallBack);
  return async () => {
    stopping = true;
    // Held while it stops, or a process with nothing else to do would exit before it has.
    worker.ref();
    worker.postMessage('stop');
    await exited;
  };
}

/** How long a writer waits for another connection's lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5_000;

/** Distinct SQL texts kept prepared; batch inserts of every size from 1 to 200 rows fit. */
const cachedStatements = 500;

/**
 * Kysely prepares every query anew, and preparing (parsing and planning the SQL) costs more than
 * running these small queries. The stores send the same few texts again and again, so each text is
 * prepared once and its statement reused. better-sqlite3 runs a statement synchronously, so reuse
 * is safe, except while one is still being iterated (a streamed query): that one gets a fresh copy.
 */
export function withStatementCache(database: Database.Database): SqliteDialectConfig['database'] {
  const statements = new Map<string, Database.Statement>();
  return {
    close: () => database.close(),
    prepare(sqlText: string) {
      const cached = statements.get(sqlText);
      if (cached !== undefined && !cached.busy) return cached;
      const statement = database.prepare(sqlText);
      if (cached === undefined) {
        // The oldest text goes first when full; Map keeps insertion order.
        if (statements.size >= cachedStatements) statements.delete(statements.keys().next().value as string);
        statements.set(sqlText, statement);
      }
      return statement;
    },
  };
}

export function openSqliteDatabase(options: SqliteDatabaseOptions): SqliteDatabase {
  const inMemory = options.file === ':memory:' || options.file === '';
  // Start-up only, never on a request path: a synchronous mkdir keeps the factory synchronous.
  if (!inMemory) mkdirSync(dirname(options.file), { recursive: true });
  const database = new Database(options.file);
  // busy_timeout first: switching to WAL takes a lock that another starting process may hold.
  database.pragma(`busy_timeout = ${busyTimeoutMs}`);
  // WAL lets readers run beside the one writer; NORMAL is durable across application crashes in WAL
  // mode and only risks the last transactions on power loss, which is acceptable for this data.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  const stopCheckpoints = options.backgroundCheckpoints === true && !inMemory ? startBackgroundCheckpoints(database, options.file) : undefined;

  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  let closing: Promise<void> | undefined;
  return {
    db,
    native: database,
    close: () => {
      // The checkpointer stops first; the last connection to close then checkpoints what is left.
      closing ??= (stopCheckpoints?.() ?? Promise.resolve()).then(() => db.destroy());
      return closing;
    },
  };
}
