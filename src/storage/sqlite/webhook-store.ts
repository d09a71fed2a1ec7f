// Webhook deliveries on SQLite: as the portable store, but what every task pays for whether or not it
// has a webhook is prepared: activating its delivery when it finishes (usually finding none) is an
// UPDATE in the database's group commit instead of a transaction of its own, and looking its delivery
// up (every task object shown to a client) a prepared SELECT without the query builder.

import type Database from 'better-sqlite3';
import type { Selectable } from 'kysely';
import type { WebhookAttempt, WebhookDelivery } from '../../core/ports/webhook-store.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import type { WebhookDeliveriesTable } from '../sql/schema.js';
import { SqlWebhookStore } from '../sql/webhook-store.js';
import type { SqliteDatabase } from './database.js';
import { GroupCommit } from './group-commit.js';

export class SqliteWebhookStore extends SqlWebhookStore {
  readonly #native: Database.Database;
  readonly #batches: GroupCommit;
  #activate: Database.Statement<[number, string]> | undefined;
  #delivery: Database.Statement<[string], Selectable<WebhookDeliveriesTable>> | undefined;

  constructor(database: Pick<SqliteDatabase, 'db' | 'native' | 'lock'>, batches: GroupCommit = GroupCommit.forDatabase(database), box?: SecretBox) {
    super(database.db, box);
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

  override async forTask(taskId: string): Promise<{ delivery: WebhookDelivery; attempts: WebhookAttempt[] } | undefined> {
    const found = await this.#batches.read(() => {
      this.#delivery ??= this.#native.prepare<[string], Selectable<WebhookDeliveriesTable>>('SELECT * FROM webhook_deliveries WHERE task_id = ?');
      return this.#delivery.get(taskId);
    });
    // Most tasks have no webhook; one that has is read in full by the portable store.
    return found === undefined ? undefined : super.forTask(taskId);
  }
}
