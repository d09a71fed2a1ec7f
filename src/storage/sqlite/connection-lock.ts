// The lock on the embedded database's one connection, shared by Kysely and the group commit.
//
// Kysely's SQLite driver serialises its users with a mutex of its own, reachable only through
// `db.connection().execute(…)`, which builds a Kysely instance per call (a frozen spread of its props,
// a hidden class or two per call in this V8) and always waits a few promise turns. The group commit
// takes the connection for every batch and every read — on the task path once per poll — so the
// driver here takes this lock instead of its own, and the group commit runs its synchronous work at
// once when the lock is free (the usual case: Kysely holds it only for admin transactions and
// migrations), queueing behind a Kysely transaction that is awaiting otherwise.

import { SqliteDialect, type DatabaseConnection, type Driver, type QueryCompiler, type SqliteDialectConfig, type TransactionSettings } from 'kysely';

export class ConnectionLock {
  #held = false;
  /** Who waits for the lock, first come first served; each is handed it in turn. */
  readonly #waiters: Array<() => void> = [];

  /** Resolves once the caller holds the lock; release() gives it back. */
  acquire(): Promise<void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  release(): void {
    const next = this.#waiters.shift();
    if (next === undefined) this.#held = false;
    else next();
  }

  /**
   * Runs `critical` (synchronous) while holding the lock: at once when it is free (undefined is
   * returned), or once it is this caller's turn (the promise settles after `critical` ran).
   */
  runExclusive(critical: () => void): Promise<void> | undefined {
    if (this.#held) return this.acquire().then(() => this.#runHeld(critical));
    this.#held = true;
    this.#runHeld(critical);
    return undefined;
  }

  /** Runs `critical` with the lock taken, and gives it back whatever happens. */
  #runHeld(critical: () => void): void {
    try {
      critical();
    } finally {
      this.release();
    }
  }
}

/** Kysely's SQLite dialect whose driver holds `lock` while Kysely uses the connection. */
export class LockedSqliteDialect extends SqliteDialect {
  readonly #lock: ConnectionLock;

  constructor(config: SqliteDialectConfig, lock: ConnectionLock) {
    super(config);
    this.#lock = lock;
  }

  override createDriver(): Driver {
    return new LockedDriver(super.createDriver(), this.#lock);
  }
}

/** Kysely's driver as it is, but for taking and giving back the connection under the shared lock. */
class LockedDriver implements Driver {
  readonly #driver: Driver;
  readonly #lock: ConnectionLock;

  constructor(driver: Driver, lock: ConnectionLock) {
    this.#driver = driver;
    this.#lock = lock;
  }

  init(): Promise<void> {
    return this.#driver.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    await this.#lock.acquire();
    try {
      // The driver's own mutex is then never contended: only this driver asks it.
      return await this.#driver.acquireConnection();
    } catch (error) {
      this.#lock.release();
      throw error;
    }
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    try {
      await this.#driver.releaseConnection(connection);
    } finally {
      this.#lock.release();
    }
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#driver.beginTransaction(connection, settings);
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#driver.commitTransaction(connection);
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#driver.rollbackTransaction(connection);
  }

  async savepoint(connection: DatabaseConnection, savepointName: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    await this.#driver.savepoint?.(connection, savepointName, compileQuery);
  }

  async rollbackToSavepoint(connection: DatabaseConnection, savepointName: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    await this.#driver.rollbackToSavepoint?.(connection, savepointName, compileQuery);
  }

  async releaseSavepoint(connection: DatabaseConnection, savepointName: string, compileQuery: QueryCompiler['compileQuery']): Promise<void> {
    await this.#driver.releaseSavepoint?.(connection, savepointName, compileQuery);
  }

  destroy(): Promise<void> {
    return this.#driver.destroy();
  }
}
