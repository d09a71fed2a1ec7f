// Group commit: many requests' billing writes in one SQLite transaction. Each caller queues a small
// synchronous unit of work and awaits its batch; the batch runs on the next turn of the event loop
// (so every request that reached this point in the same turn joins it) in one BEGIN IMMEDIATE …
// COMMIT, with a savepoint per unit so one unit's failure (a refused reservation) undoes only its
// own writes (a unit whose writes need no undoing may go without one: see RunOptions). A caller's promise settles only after the COMMIT: what it was told is on disk
// (in WAL mode with synchronous = NORMAL: safe from a process crash; power loss may take the last
// commits, the window the whole database accepts).
//
// The one transaction per batch replaces one per call: the WAL frames of the pages the batch
// touches (the key's row, the reservation and usage b-trees) are written once, not once per request.
//
// Waiting for the write lock never blocks the event loop. Another process (a cluster worker, a replica
// on the same file) or the checkpointer thread may hold it; SQLite's busy handler would then sleep
// on this thread — 1, 2, 5, 10 … ms, whatever the lock's holder needs, with every request of the
// process stalled meanwhile. So BEGIN IMMEDIATE is tried without a busy timeout and, when the lock is
// taken, tried again a millisecond or so later from a timer, while the process goes on serving (the
// units that arrive meanwhile join the next batch). The wait is bounded as the busy timeout was.

import type Database from 'better-sqlite3';
import { GatewayError } from '../../core/errors.js';
import type { SqliteDatabase } from './database.js';

interface Unit {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  savepoint: Savepoint;
}

type Savepoint = NonNullable<RunOptions['savepoint']>;

export interface RunOptions {
  /**
   * 'refusals-first': the unit decides every refusal (a GatewayError) before it writes anything, so
   * it runs without a savepoint and a refusal needs nothing undone. Any other error (a defect, a
   * failed write half-way) rolls the batch's transaction back, and the batch runs again at once with
   * a savepoint for every unit, as if each had asked for one. For the billing units on every request:
   * a SAVEPOINT and a RELEASE cost about 2 µs per unit, a tenth of a reservation. Every unit of a batch
   * may therefore run twice; a unit must do nothing but its statements (no state outside the database).
   *
   * false: the unit runs without a savepoint of its own, so a failure half-way leaves what it wrote
   * before it in the batch (committed with the others). Only for work that is harmless to leave half
   * done because it is retried whole and its writes are idempotent (request log rows: INSERT … ON
   * CONFLICT DO NOTHING). A savepoint makes SQLite copy every database page the unit changes into the
   * statement journal first, and past 64 KiB (about 15 pages: 50 log rows touch their table and four
   * indexes) that journal spills to a temporary file, which then takes every later unit's copies of the
   * transaction too: a file created, written page by page with pwrite, and deleted in every batch.
   * Default true.
   */
  savepoint?: boolean | 'refusals-first';
}

export interface GroupCommitOptions {
  native: Database.Database;
  /**
   * Runs `critical` while nothing else uses the connection (the connection's lock, which Kysely
   * takes too), so a batch never lands inside another store's transaction: at once (undefined) when
   * the lock is free, or later (a promise that settles once it ran).
   */
  exclusive: (critical: () => void) => Promise<void> | undefined;
  /** Units per transaction at most; the rest wait for the next batch. */
  maxBatch?: number;
  /** How long a batch waits for the write lock before it fails with SQLITE_BUSY (default 5 s, the connection's busy timeout). */
  lockWaitMs?: number;
}

/** Pause between two tries for a write lock another connection holds: about a millisecond, jittered so two waiters do not retry in step. */
const lockRetryMs = () => 0.5 + Math.random();

const isBusy = (error: unknown): boolean => (error as { code?: unknown } | null)?.code === 'SQLITE_BUSY';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class GroupCommit {
  readonly #exclusive: GroupCommitOptions['exclusive'];
  readonly #maxBatch: number;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  readonly #savepoint: Database.Statement;
  readonly #releaseSavepoint: Database.Statement;
  readonly #rollbackToSavepoint: Database.Statement;
  readonly #native: Database.Database;
  readonly #busyTimeoutMs: number;
  readonly #tempStore: number;
  readonly #lockWaitMs: number;
  #queue: Unit[] = [];
  #flushing = false;

  /** The group commit of one opened database; every store of a process shares one, so their writes share transactions. */
  static forDatabase(database: Pick<SqliteDatabase, 'native' | 'lock'>): GroupCommit {
    return new GroupCommit({ native: database.native, exclusive: (critical) => database.lock.runExclusive(critical) });
  }

  constructor(options: GroupCommitOptions) {
    this.#exclusive = options.exclusive;
    this.#maxBatch = options.maxBatch ?? 512;
    const native = options.native;
    this.#begin = native.prepare('BEGIN IMMEDIATE');
    this.#commit = native.prepare('COMMIT');
    this.#rollback = native.prepare('ROLLBACK');
    this.#savepoint = native.prepare('SAVEPOINT unit');
    this.#releaseSavepoint = native.prepare('RELEASE unit');
    this.#rollbackToSavepoint = native.prepare('ROLLBACK TO unit');
    this.#lockWaitMs = options.lockWaitMs ?? 5_000;
    this.#native = native;
    // The connection's own busy timeout (what every other statement on it waits), put back after each try.
    this.#busyTimeoutMs = Number(native.pragma('busy_timeout', { simple: true }));
    this.#tempStore = Number(native.pragma('temp_store', { simple: true }));
  }

  /** Runs `work` inside the next batch's transaction; resolves with its result once that batch is committed. */
  run<T>(work: () => T, options?: RunOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject, savepoint: options?.savepoint ?? true });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  /**
   * Runs a read at once (no transaction, no batch) while nothing else uses the connection, so it never
   * sees another store's transaction half done.
   */
  async read<T>(work: () => T): Promise<T> {
    let value: T | undefined;
    const later = this.#exclusive(() => {
      value = work();
    });
    if (later !== undefined) await later;
    return value as T;
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    try {
      const giveUpAt = Date.now() + this.#lockWaitMs;
      let everyUnitInASavepoint = false;
      for (let committed = false; !committed; ) {
        let busy = false;
        await this.#exclusive(() => {
          try {
            while (!committed && !busy) {
              busy = !this.#tryBegin(Date.now() >= giveUpAt);
              if (busy) break;
              outcomes.length = 0;
              committed = this.#runBatch(batch, outcomes, everyUnitInASavepoint);
              // Rolled back by a unit's unexpected error: the same units again, each in its savepoint.
              everyUnitInASavepoint = true;
            }
          } finally {
            this.#restoreTempStore();
          }
        });
        if (committed) break;
        await sleep(lockRetryMs());
        // What arrived meanwhile rides along in the same transaction.
        const room = this.#maxBatch - batch.length;
        if (room > 0 && this.#queue.length > 0) batch.push(...this.#queue.splice(0, room));
      }
      batch.forEach((unit, index) => {
        const outcome = outcomes[index];
        if (outcome?.ok) unit.resolve(outcome.value);
        else unit.reject(outcome?.value);
      });
    } catch (error) {
      for (const unit of batch) unit.reject(error);
    } finally {
      if (this.#queue.length > 0) setImmediate(() => void this.#flush());
      else this.#flushing = false;
    }
  }

  /**
   * BEGIN IMMEDIATE without waiting: true once this connection holds the write lock, false while
   * another does. `last`: the wait is over, so a busy lock fails the batch instead.
   */
  #tryBegin(last: boolean): boolean {
    // Not a prepared statement: SQLite applies these pragmas when it compiles them, so running a
    // prepared one again changes nothing. exec() compiles and runs both in one call (about 1 µs, where
    // two pragma() calls, each building a statement object and a result, took 5).
    this.#native.exec('PRAGMA busy_timeout = 0; PRAGMA temp_store = MEMORY');
    // busy_timeout = 0: see the file's opening comment. temp_store = MEMORY: the batch's statement
    // journal (the pages each unit's savepoint keeps to undo it) in memory. SQLite decides where it
    // lives when the write transaction begins, and on the default temp_store
    // a unit that changes more than ~15 pages (64 KiB) spills it to a temporary file, which then
    // takes every later unit's pages of that transaction (in scenario 4 about 60 such files a second:
    // a file created, written with pwrite page by page, and deleted per batch). A journal holds one
    // unit's pages at a time, so memory stays bounded by the largest unit. Put back after the batch,
    // so the connection's other queries (sorts of large admin reads) still spill to disk.
    try {
      this.#begin.run();
      return true;
    } catch (error) {
      if (isBusy(error) && !last) return false;
      throw error;
    } finally {
      this.#native.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  /** The connection's own temp_store again, once the batch's transaction is over. */
  #restoreTempStore(): void {
    try {
      this.#native.exec(`PRAGMA temp_store = ${this.#tempStore}`);
    } catch {
      // Refused only inside a transaction that holds temporary tables (a failed ROLLBACK): the
      // setting stays MEMORY, which is harmless, until the next batch puts it back.
    }
  }

  /**
   * Every unit in its savepoint (unless it goes without), then COMMIT (the write lock is held). False
   * when a 'refusals-first' unit failed unexpectedly: the transaction is rolled back, nothing of the
   * batch holds, and the caller runs it again with `everyUnitInASavepoint`.
   */
  #runBatch(batch: Unit[], outcomes: Array<{ ok: boolean; value: unknown }>, everyUnitInASavepoint: boolean): boolean {
    try {
      for (const unit of batch) {
        if (unit.savepoint === false || (unit.savepoint === 'refusals-first' && !everyUnitInASavepoint)) {
          try {
            outcomes.push({ ok: true, value: unit.work() });
          } catch (error) {
            if (unit.savepoint === 'refusals-first' && !(error instanceof GatewayError)) {
              this.#rollback.run();
              return false;
            }
            outcomes.push({ ok: false, value: error });
          }
          continue;
        }
        this.#savepoint.run();
        try {
          outcomes.push({ ok: true, value: unit.work() });
          this.#releaseSavepoint.run();
        } catch (error) {
          this.#rollbackToSavepoint.run();
          this.#releaseSavepoint.run();
          outcomes.push({ ok: false, value: error });
        }
      }
      this.#commit.run();
      return true;
    } catch (error) {
      // The transaction itself failed (disk full, I/O error): nothing of the batch holds.
      if (this.#begin.database.inTransaction) this.#rollback.run();
      throw error;
    }
  }
}
