// Webhook deliveries on SQLite: as the portable store, but the one write every finished task makes —
// activating its delivery, usually finding none — is a prepared UPDATE in the database's group commit
// instead of a transaction of its own.

import type Database from 'better-sqlite3';
import { SqlWebhookStore } from '../sql/webhook-store.js';
import type { SqliteDatabase } from './database.js';
import { GroupCommit } from './group-commit.js';

export class SqliteWebhookStore extends SqlWebhookStore {
  readonly #native: Database.Database;
  readonly #batches: GroupCommit;
  #activate: Database.Statement<[number, string]> | undefined;

  constructor(database: Pick<SqliteDatabase, 'db' | 'native'>, batches: GroupCommit = GroupCommit.forDatabase(database)) {
    super(database.db);
    this.#native = database.native;
    this.#batches = batches;
  }

  override activate(taskId: string, now: number): Promise<boolean> {
    return this.#batches.run(() => {
      // Prepared on first use: a store may be made before the migrations have created its table.
      this.#activate ??= this.#native.prepare<[number, string]>("UPDATE webhook_deliveries SET state = 'pending', next_attempt_at = ? WHERE task_id = ? AND state = 'waiting'");
      return this.#activate.run(now, taskId).changes > 0;
    });
  }
}
