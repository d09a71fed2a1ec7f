// Group commit: many requests' billing writes in one SQLite transaction. Each caller queues a small
// synchronous unit of work and awaits its batch; the batch runs on the next turn of the event loop
// (so every request that reached this point in the same turn joins it) in one BEGIN IMMEDIATE …
// COMMIT, with a savepoint per unit so one unit's failure (a refused reservation) undoes only its
// own writes. A caller's promise settles only after the COMMIT: what it was told is on disk
// (in WAL mode with synchronous = NORMAL: safe from a process crash; power loss may take the last
// commits, the window the whole database accepts).
//
// The one transaction per batch replaces one per call: the WAL frames of the pages the batch
// touches (the key's row, the reservation and usage b-trees) are written once, not once per request.

import type Database from 'better-sqlite3';

interface Unit {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  native: Database.Database;
  /**
   * Runs `critical` while nothing else uses the connection (Kysely's connection lock), so a batch
   * never lands inside another store's transaction.
   */
  exclusive: (critical: () => void) => Promise<void>;
  /** Units per transaction at most; the rest wait for the next batch. */
  maxBatch?: number;
}

export class GroupCommit {
  readonly #exclusive: GroupCommitOptions['exclusive'];
  readonly #maxBatch: number;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  readonly #rollback: Database.Statement;
  readonly #savepoint: Database.Statement;
  readonly #releaseSavepoint: Database.Statement;
  readonly #rollbackToSavepoint: Database.Statement;
  #queue: Unit[] = [];
  #flushing = false;

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
  }

  /** Runs `work` inside the next batch's transaction; resolves with its result once that batch is committed. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushing) {
        this.#flushing = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(this.#maxBatch);
    const outcomes: Array<{ ok: boolean; value: unknown }> = [];
    try {
      await this.#exclusive(() => {
        this.#begin.run();
        try {
          for (const unit of batch) {
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
        } catch (error) {
          // The transaction itself failed (disk full, I/O error, busy past the timeout): nothing of the batch holds.
          if (this.#begin.database.inTransaction) this.#rollback.run();
          throw error;
        }
      });
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
}
