// The books of the minimal durable relay (bench/reference-relay.ts --data-dir): exactly the billing
// guarantees issue 15 asks of imagegate and nothing more, to measure what those guarantees cost at
// the least. Per request a reservation (the balance debited only when it covers the estimate, so a
// quota is exact across processes) committed before the upstream call, and a settlement (the
// reservation closed, the difference refunded, a usage row written) committed before the answer.
//
// better-sqlite3 in WAL with synchronous = NORMAL, prepared statements, and group commit: the units
// queued in one turn of the event loop run in one BEGIN IMMEDIATE … COMMIT, and each caller's promise
// resolves only after that COMMIT. Written apart from src/storage/sqlite/group-commit.ts on purpose:
// the ceiling must not inherit imagegate's own costs. Each unit checks before it writes, so a refused
// one has written nothing and needs no savepoint.

import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';

/** Credits a key starts with: far more than any run spends, so no request is refused for quota. */
const startingBalance = 1e15;

interface Unit {
  work: () => void;
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class RelayLedger {
  readonly #database: Database.Database;
  readonly #statements;
  #queue: Unit[] = [];

  constructor(file: string) {
    const database = new Database(file);
    database.pragma('journal_mode = WAL');
    database.pragma('synchronous = NORMAL');
    // Another worker's batch holds the write lock for a millisecond or so: wait for it.
    database.pragma('busy_timeout = 5000');
    database.exec(`
      CREATE TABLE IF NOT EXISTS keys (id TEXT PRIMARY KEY, balance INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS reservations (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, held INTEGER NOT NULL, status TEXT NOT NULL, created_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS usage (reservation_id TEXT PRIMARY KEY, key_id TEXT NOT NULL, images INTEGER NOT NULL, amount INTEGER NOT NULL, created_at INTEGER NOT NULL);
    `);
    database.prepare('INSERT INTO keys (id, balance) VALUES (?, ?) ON CONFLICT DO NOTHING').run('bench', startingBalance);
    this.#database = database;
    this.#statements = {
      begin: database.prepare('BEGIN IMMEDIATE'),
      commit: database.prepare('COMMIT'),
      rollback: database.prepare('ROLLBACK'),
      debit: database.prepare<[number, string, number]>('UPDATE keys SET balance = balance - ? WHERE id = ? AND balance >= ?'),
      credit: database.prepare<[number, string]>('UPDATE keys SET balance = balance + ? WHERE id = ?'),
      hold: database.prepare<[string, string, number, number]>("INSERT INTO reservations (id, key_id, held, status, created_at) VALUES (?, ?, ?, 'held', ?)"),
      close: database.prepare<[string], { key_id: string; held: number }>("UPDATE reservations SET status = 'settled' WHERE id = ? AND status = 'held' RETURNING key_id, held"),
      usage: database.prepare<[string, string, number, number, number]>('INSERT INTO usage (reservation_id, key_id, images, amount, created_at) VALUES (?, ?, ?, ?, ?)'),
    };
  }

  /** Debits `amount` from the key and holds it under a new reservation; resolves once on disk with its id. */
  async reserve(keyId: string, amount: number): Promise<string> {
    const id = randomUUID();
    await this.#enqueue(() => {
      if (this.#statements.debit.run(amount, keyId, amount).changes === 0) throw new Error('insufficient quota');
      this.#statements.hold.run(id, keyId, amount, Date.now());
    });
    return id;
  }

  /** Charges `amount` for `images` delivered, refunds the rest of the hold; resolves once on disk. A second settle changes nothing. */
  settle(reservationId: string, images: number, amount: number): Promise<void> {
    return this.#enqueue(() => {
      const closed = this.#statements.close.get(reservationId);
      if (!closed) return;
      const charged = Math.min(amount, closed.held);
      if (closed.held > charged) this.#statements.credit.run(closed.held - charged, closed.key_id);
      this.#statements.usage.run(reservationId, closed.key_id, images, charged, Date.now());
    });
  }

  close(): void {
    this.#database.close();
  }

  #enqueue(work: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.#queue.push({ work, resolve, reject }) === 1) setImmediate(() => this.#flush());
    });
  }

  /** One transaction for every unit queued since the last: each unit's outcome is told after COMMIT. */
  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    const failures = new Map<Unit, unknown>();
    try {
      this.#statements.begin.run();
      for (const unit of batch) {
        try {
          unit.work();
        } catch (error) {
          failures.set(unit, error);
        }
      }
      this.#statements.commit.run();
    } catch (error) {
      if (this.#database.inTransaction) this.#statements.rollback.run();
      for (const unit of batch) unit.reject(error);
      return;
    }
    for (const unit of batch) {
      if (failures.has(unit)) unit.reject(failures.get(unit));
      else unit.resolve();
    }
  }
}
