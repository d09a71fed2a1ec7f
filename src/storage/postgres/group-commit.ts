// A group commit for the task ledger's one-statement moments on PostgreSQL: the statements queued
// while a batch is under way (and those of the event-loop turn that queued the first) go in one
// transaction on one pooled connection, so a key's row is locked once per batch instead of once per
// moment, each lock held through a COMMIT's WAL flush — with one bench key, that hold was what every
// other reservation and settlement of the key waited for.
//
// No savepoints: a statement that fails aborts its transaction, so then the batch is rolled back and
// each of its statements is run again alone (autocommit), answering its own result or error exactly as
// without the batch. Failing statements are the rare cases (a refusal, a lost lease, a repeated
// finish). A failure of the transaction itself (the connection, the COMMIT) rejects every statement of
// the batch, as it would a transaction of one. Statements are ordered by key within a batch, so two
// processes' batches lock their keys in the same order.

import type pg from 'pg';
import type { PreparedStatements, Statement } from './prepared-statements.js';

interface Unit {
  statement: Statement;
  /** Lock order within a batch: the key the statement locks. */
  order: string;
  resolve(result: pg.QueryResult): void;
  reject(error: unknown): void;
}

/** Statements per transaction at most; a longer queue is the next batch's. */
const maxBatch = 64;

export class PostgresGroupCommit {
  readonly #statements: PreparedStatements;
  #queue: Unit[] = [];
  #running = false;

  constructor(statements: PreparedStatements) {
    this.#statements = statements;
  }

  /** Runs `statement` in the next batch; resolves with its result once committed, rejects with its own error when it fails alone. */
  run(statement: Statement, order: string): Promise<pg.QueryResult> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ statement, order, resolve, reject });
      if (!this.#running) {
        this.#running = true;
        setImmediate(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, maxBatch);
      if (batch.length === 1) await this.#alone(batch[0] as Unit);
      else await this.#together(batch);
    }
    this.#running = false;
  }

  async #alone(unit: Unit): Promise<void> {
    try {
      unit.resolve(await this.#statements.query(unit.statement));
    } catch (error) {
      unit.reject(error);
    }
  }

  async #together(batch: Unit[]): Promise<void> {
    batch.sort((a, b) => (a.order < b.order ? -1 : a.order > b.order ? 1 : 0));
    let statementFailed = false;
    const results: pg.QueryResult[] = [];
    try {
      await this.#statements.transaction(async (run) => {
        for (const unit of batch) {
          try {
            results.push(await run(unit.statement));
          } catch (error) {
            statementFailed = true;
            throw error;
          }
        }
      });
    } catch (error) {
      if (statementFailed) {
        // Rolled back whole: each statement again on its own, its result its own.
        await Promise.all(batch.map((unit) => this.#alone(unit)));
      } else {
        for (const unit of batch) unit.reject(error);
      }
      return;
    }
    batch.forEach((unit, index) => unit.resolve(results[index] as pg.QueryResult));
  }
}
