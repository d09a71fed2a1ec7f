// Opens the embedded SQLite database (better-sqlite3 behind Kysely) with the pragmas the stores rely on.

import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type SqliteDialectConfig } from 'kysely';
import type { DatabaseSchema } from '../sql/schema.js';
import { ConnectionLock, LockedSqliteDialect } from './connection-lock.js';

export interface SqliteDatabase {
  db: Kysely<DatabaseSchema>;
  /**
   * The same connection without the query builder, for hot paths that run prepared statements in
   * one synchronous transaction. Use it only while holding `lock` (as the group commit does, or
   * inside `db.connection().execute(…)`), so it never runs inside a Kysely transaction that is awaiting.
   */
  native: Database.Database;
  /** The connection's lock, which Kysely's driver takes too (./connection-lock.ts). */
  lock: ConnectionLock;
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
  /**
   * Past this many bytes of WAL frames the checkpointer has writers start the file over from its
   * beginning (a RESTART checkpoint); the file keeps its length and is emptied once idle.
   */
  restartAboveBytes: number;
}

/**
 * Passive checkpoints never finish while writes keep arriving (frames are appended behind them), and
 * SQLite only starts the WAL over once everything in it is checkpointed: under sustained load the
 * file grew without bound (2.4 GB after 30 s). So past `restartAboveBytes` the checkpointer catches
 * up, and once the database is idle it runs a TRUNCATE, so an idle WAL file is empty.
 *
 * Catching up never holds writers back: a PASSIVE checkpoint copies the backlog (and fsyncs) while
 * writers go on, then further PASSIVEs copy only the frames committed meanwhile, each shorter than
 * the last, until one finds nothing left (up to 24 rounds; once the backlog is copied each has a few
 * frames to copy, and two fsyncs). The next writer then finds the WAL wholly checkpointed and starts it
 * over from its beginning by itself (a writer already inside its transaction when the last round ran
 * does not; the file then grows past its length and the next tick catches up again). Only when no
 * round finds nothing new (writers faster than the rounds, as under a loaded machine's preemption), or
 * the file is half as long again as the bound (another connection reading an old snapshot keeps
 * writers from starting it over), does it fall back to a RESTART checkpoint,
 * which holds SQLite's write lock through its copy and both fsyncs: every group-commit batch, and
 * every request waiting on one, waited 3–20 ms for it about once a second at 700 requests/s.
 * Neither truncates the file (but when a burst left it past twice the bound): cutting a 16 MB file
 * took 3–8 ms of the writers' wait, and SQLite's journal_size_limit would make the next commit cut it
 * on the event loop instead. Writers overwrite the file from its start, so it stays near the bound
 * under load and is emptied once idle.
 */
export const defaultWalBounds: WalBounds = { restartAboveBytes: 16 * 1024 * 1024 };

/**
 * The checkpointer: its own connection in a worker thread. Every fifth tick (250 ms) it runs a
 * PASSIVE checkpoint (never waits for or blocks the writer), which also tells how many frames the WAL
 * holds: past the bound it catches up at once (see WalBounds), and a WAL that stopped growing (no
 * commit since the last round) and is fully checkpointed gets a TRUNCATE. Every tick (50 ms) the file's length
 * is looked at (a stat), so a burst is cut short early: after a RESTART writers overwrite the file
 * from its start and it keeps its length, so only growth past that length (or past the bound) counts.
 * (A PASSIVE every tick found bursts as well, but its fsyncs slowed the event loop's commits: p99
 * of a COMMIT 3.4–4.6 ms against 1.8 ms at 100 requests/s.) CommonJS source evaluated in the
 * worker, so it needs no loader.
 */
const checkpointerSource = `
const { statSync } = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const Database = require(workerData.driver);
const database = new Database(workerData.file);
database.pragma('busy_timeout = 5000');
const walFile = workerData.file + '-wal';
const walBytes = () => { try { return statSync(walFile).size; } catch { return 0; } };
const frameBytes = Number(database.pragma('page_size', { simple: true })) + 24;
const bound = workerData.restartAboveBytes;
// The file's length when writers last started it over: it only grows once more frames than that are written.
let length = 0;
let lastFrames = -1;
let restartedAt = -1;
let tick = 0;
// PASSIVE rounds after the first before a RESTART is used instead: each copies what was committed
// during the one before it, so they shorten quickly; a writer faster than that needs the RESTART.
const catchUpRounds = 24;
/**
 * PASSIVE rounds until one finds no frame committed since the one before it: a PASSIVE reports the
 * frames it saw when it began (all of them copied), not those committed while it ran. True once the
 * WAL is wholly checkpointed (the next writer starts it over) or a writer already started it over.
 */
const catchUp = (first) => {
  let last = first;
  for (let round = 0; round < catchUpRounds; round += 1) {
    const [next] = database.pragma('wal_checkpoint(PASSIVE)');
    // A checkpoint that could not run reports -1 frames, which proves nothing.
    if (next.busy !== 0 || next.log < 0) return { caughtUp: false, last };
    if (next.log < last.log) return { caughtUp: true, last: next };
    if (next.log === last.log && next.checkpointed === next.log) return { caughtUp: true, last: next };
    last = next;
  }
  return { caughtUp: false, last };
};
const restart = (passive) => {
  let last = passive;
  // Caught up, the next writer starts the file over only if no other connection still reads old
  // frames; if it did not (the file grew half as long again as the bound), the RESTART waits for such
  // readers as before.
  let caughtUp = false;
  if (walBytes() <= 1.5 * bound) ({ caughtUp, last } = catchUp(passive));
  if (!caughtUp) {
    // One kept waiting too long reports busy, and a later tick tries again.
    const [restarted] = database.pragma('wal_checkpoint(RESTART)');
    if (restarted.busy !== 0) return;
    last = restarted;
  }
  restartedAt = last.log;
  lastFrames = -1;
  // A burst that outran the ticks left the file well past the bound; its length would then become the
  // new threshold for the stat and the file would ratchet up burst by burst (48 MB written at full speed
  // left a 45 MB file). Cut it back: a TRUNCATE right after the RESTART has only a few frames to copy.
  if (walBytes() > 2 * bound) { database.pragma('wal_checkpoint(TRUNCATE)'); restartedAt = -1; }
  length = walBytes();
};
const timer = setInterval(() => {
  try {
    tick += 1;
    const burst = walBytes() > Math.max(bound, length);
    if (!burst && tick % 5 !== 0) return;
    const [passive] = database.pragma('wal_checkpoint(PASSIVE)');
    // Past the bound, unless nothing was written since the last RESTART (the next writer starts the
    // file over anyway): then an idle WAL still gets its TRUNCATE below.
    if (passive.log * frameBytes > bound && passive.log !== restartedAt) { restart(passive); return; }
    if (tick % 5 !== 0) return;
    const idle = passive.log === lastFrames && passive.log === passive.checkpointed;
    lastFrames = passive.log;
    if (idle && (passive.log > 0 || walBytes() > 0)) { database.pragma('wal_checkpoint(TRUNCATE)'); lastFrames = 0; length = 0; restartedAt = -1; }
  } catch { /* busy or closing: the next round catches up */ }
}, workerData.intervalMs / 5);
parentPort.on('message', () => { clearInterval(timer); database.close(); process.exit(0); });
`;

/** Starts the checkpointer; if it ever stops, SQLite's automatic checkpoints are switched back on. */
function startBackgroundCheckpoints(database: Database.Database, file: string, bounds: WalBounds): () => Promise<void> {
  database.pragma('wal_autocheckpoint = 0');
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

  const lock = new ConnectionLock();
  const db = new Kysely<DatabaseSchema>({ dialect: new LockedSqliteDialect({ database: withStatementCache(database) }, lock) });
  let closing: Promise<void> | undefined;
  return {
    db,
    native: database,
    lock,
    close: () => {
      // The checkpointer stops first; the last connection to close then checkpoints what is left.
      closing ??= (stopCheckpoints?.() ?? Promise.resolve()).then(() => db.destroy());
      return closing;
    },
  };
}
