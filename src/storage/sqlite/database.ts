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
  /** Bounds of the WAL file the background checkpointer keeps (default defaultWalBounds). */
  walBounds?: WalBounds;
}

/** How often the background checkpointer runs; the WAL then holds at most a quarter second of writes. */
const checkpointIntervalMs = 250;

export interface WalBounds {
  /** Past this size the checkpointer runs a TRUNCATE checkpoint: writers start over on an empty WAL file. */
  restartAboveBytes: number;
  /** What the WAL file is cut back to when writers start it over (SQLite's journal_size_limit). */
  keepBytes: number;
}

/**
 * Passive checkpoints never finish while writes keep arriving (frames are appended behind them), and
 * SQLite only starts the WAL over once everything in it is checkpointed: under sustained load the
 * file grew without bound (2.4 GB after 30 s). So past `restartAboveBytes` the checkpointer runs a
 * TRUNCATE checkpoint (it briefly holds writers back while it copies what the passive rounds left and
 * empties the file), and once the database is idle another, so an idle WAL file is empty.
 */
export const defaultWalBounds: WalBounds = { restartAboveBytes: 16 * 1024 * 1024, keepBytes: 4 * 1024 * 1024 };

/**
 * The checkpointer: its own connection in a worker thread. Every round it runs a PASSIVE checkpoint
 * (never waits for or blocks the writer); a WAL past the bound gets a TRUNCATE, and so does one that stopped
 * growing (no commit since the last round) a TRUNCATE. CommonJS source evaluated in the worker, so it
 * needs no loader.
 */
const checkpointerSource = `
const { statSync } = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const database = new Database(workerData.file);
database.pragma('busy_timeout = 5000');
const walFile = workerData.file + '-wal';
const walBytes = () => { try { return statSync(walFile).size; } catch { return 0; } };
let lastFrames = -1;
let tick = 0;
const timer = setInterval(() => {
  try {
    // The size is looked at every tick (a stat), so a burst is cut short early; checkpoints run every fifth.
    if (walBytes() > workerData.restartAboveBytes) { database.pragma('wal_checkpoint(TRUNCATE)'); return; }
    tick += 1;
    if (tick % 5 !== 0) return;
    const [passive] = database.pragma('wal_checkpoint(PASSIVE)');
    const idle = passive.log === lastFrames && passive.log === passive.checkpointed;
    lastFrames = passive.log;
    if (idle && passive.log > 0) { database.pragma('wal_checkpoint(TRUNCATE)'); lastFrames = 0; }
  } catch { /* busy or closing: the next round catches up */ }
}, workerData.intervalMs / 5);
parentPort.on('message', () => { clearInterval(timer); database.close(); process.exit(0); });
`;

/** Starts the checkpointer; if it ever stops, SQLite's automatic checkpoints are switched back on. */
function startBackgroundCheckpoints(database: Database.Database, file: string, bounds: WalBounds): () => Promise<void> {
  database.pragma('wal_autocheckpoint = 0');
  // Once a checkpoint let writers start the WAL over, the file is cut back to this size rather than kept.
  database.pragma(`journal_size_limit = ${bounds.keepBytes}`);
  const worker = new Worker(checkpointerSource, {
    eval: true,
    workerData: { file, driver: createRequire(import.meta.url).resolve('better-sqlite3'), intervalMs: checkpointIntervalMs, restartAboveBytes: bounds.restartAboveBytes },
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
  const stopCheckpoints = options.backgroundCheckpoints === true && !inMemory ? startBackgroundCheckpoints(database, options.file, options.walBounds ?? defaultWalBounds) : undefined;

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
