// Webhook deliveries in SQL, SQLite or Postgres (tables from migration 002). A client's own webhook
// secret is kept sealed with the secrets key, as channels' upstream keys are: whoever holds a copy of
// the database (a backup, a `db copy`) could otherwise sign webhooks its receiver trusts.

import type { Kysely, Selectable } from 'kysely';
import type { DatabaseSchema, WebhookDeliveriesTable } from './schema.js';
import type { AttemptOutcome, WebhookAttempt, WebhookDelivery, WebhookState, WebhookStore } from '../../core/ports/webhook-store.js';
import { clearTextBox, type SecretBox } from '../../secrets/secret-box.js';

const finishedTaskStatuses = ['succeeded', 'failed', 'canceled'];

export class SqlWebhookStore implements WebhookStore {
  protected readonly database: Kysely<DatabaseSchema>;
  readonly #box: SecretBox;

  /** With a secret box, a delivery's own secret is stored encrypted; rows stored in clear are still read. */
  constructor(db: Kysely<DatabaseSchema>, box?: SecretBox) {
    this.database = db;
    this.#box = box ?? clearTextBox;
  }

  /**
   * Encrypts the secrets of deliveries written in clear (by an older version, or a store without a
   * box); run at start. Answers how many it sealed.
   */
  async sealStoredSecrets(): Promise<number> {
    return this.database.transaction().execute(async (transaction) => {
      const rows = await transaction.selectFrom('webhook_deliveries').select(['id', 'secret']).where('secret', 'is not', null).execute();
      let sealed = 0;
      for (const row of rows) {
        if (row.secret === null || this.#box.isSealed(row.secret)) continue;
        await transaction.updateTable('webhook_deliveries').set({ secret: this.#box.seal(row.secret) }).where('id', '=', row.id).execute();
        sealed += 1;
      }
      return sealed;
    });
  }

  async register(delivery: Pick<WebhookDelivery, 'id' | 'taskId' | 'url' | 'secret' | 'publicBase' | 'createdAt'>): Promise<void> {
    await this.database
      .insertInto('webhook_deliveries')
      .values({
        id: delivery.id,
        task_id: delivery.taskId,
        url: delivery.url,
        secret: delivery.secret === null ? null : this.#box.seal(delivery.secret),
        public_base: delivery.publicBase,
        state: 'waiting',
        attempts: 0,
        next_attempt_at: null,
        lease_owner: null,
        lease_expires_at: null,
        created_at: delivery.createdAt,
        completed_at: null,
      })
      .execute();
  }

  async remove(taskId: string): Promise<void> {
    await this.database.transaction().execute(async (transaction) => {
      const row = await transaction.selectFrom('webhook_deliveries').select('id').where('task_id', '=', taskId).executeTakeFirst();
      if (!row) return;
      await transaction.deleteFrom('webhook_attempts').where('delivery_id', '=', row.id).execute();
      await transaction.deleteFrom('webhook_deliveries').where('id', '=', row.id).execute();
    });
  }

  async activate(taskId: string, now: number): Promise<boolean> {
    const result = await this.database
      .updateTable('webhook_deliveries')
      .set({ state: 'pending', next_attempt_at: now })
      .where('task_id', '=', taskId)
      .where('state', '=', 'waiting')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async retry(taskId: string, now: number): Promise<boolean> {
    const result = await this.database
      .updateTable('webhook_deliveries')
      .set({ state: 'pending', next_attempt_at: now, completed_at: null, lease_owner: null, lease_expires_at: null })
      .where('task_id', '=', taskId)
      .where('state', 'in', ['failed', 'delivered'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async activateFinished(now: number): Promise<number> {
    const result = await this.database
      .updateTable('webhook_deliveries')
      .set({ state: 'pending', next_attempt_at: now })
      .where('state', '=', 'waiting')
      .where('task_id', 'in', (expression) => expression.selectFrom('tasks').select('id').where('status', 'in', finishedTaskStatuses))
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** One UPDATE … RETURNING: two processes can never take the same delivery. */
  async claimDue(owner: string, now: number, leaseUntil: number): Promise<WebhookDelivery | undefined> {
    const row = await this.database
      .updateTable('webhook_deliveries')
      .set({ lease_owner: owner, lease_expires_at: leaseUntil })
      .where('id', '=', (expression) =>
        expression
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('state', '=', 'pending')
          .where('next_attempt_at', '<=', now)
          .where((inner) => inner.or([inner('lease_expires_at', 'is', null), inner('lease_expires_at', '<=', now)]))
          .orderBy('next_attempt_at')
          .limit(1),
      )
      .where('state', '=', 'pending')
      .where((inner) => inner.or([inner('lease_expires_at', 'is', null), inner('lease_expires_at', '<=', now)]))
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? undefined : this.toDelivery(row);
  }

  async recordAttempt(deliveryId: string, owner: string, attempt: WebhookAttempt, outcome: AttemptOutcome): Promise<boolean> {
    return this.database.transaction().execute(async (transaction) => {
      const updated = await transaction
        .updateTable('webhook_deliveries')
        .set({
          state: outcome.state,
          attempts: attempt.attempt,
          next_attempt_at: outcome.state === 'pending' ? outcome.nextAttemptAt : null,
          completed_at: outcome.state === 'pending' ? null : outcome.completedAt,
          lease_owner: null,
          lease_expires_at: null,
        })
        .where('id', '=', deliveryId)
        .where('lease_owner', '=', owner)
        .executeTakeFirst();
      if (updated.numUpdatedRows === 0n) return false;
      await transaction
        .insertInto('webhook_attempts')
        .values({
          delivery_id: deliveryId,
          attempt: attempt.attempt,
          attempted_at: attempt.attemptedAt,
          status_code: attempt.statusCode,
          error: attempt.error,
          duration_ms: attempt.durationMs,
        })
        .onConflict((conflict) => conflict.columns(['delivery_id', 'attempt']).doNothing())
        .execute();
      return true;
    });
  }

  async forTask(taskId: string): Promise<{ delivery: WebhookDelivery; attempts: WebhookAttempt[] } | undefined> {
    const row = await this.database.selectFrom('webhook_deliveries').selectAll().where('task_id', '=', taskId).executeTakeFirst();
    if (!row) return undefined;
    const attempts = await this.database.selectFrom('webhook_attempts').selectAll().where('delivery_id', '=', row.id).orderBy('attempt').execute();
    return {
      delivery: this.toDelivery(row),
      attempts: attempts.map((attempt) => ({
        attempt: attempt.attempt,
        attemptedAt: attempt.attempted_at,
        statusCode: attempt.status_code,
        error: attempt.error,
        durationMs: attempt.duration_ms,
      })),
    };
  }

  async deleteOlderThan(cutoffMs: number): Promise<number> {
    return this.database.transaction().execute(async (transaction) => {
      const doomed = await transaction
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('created_at', '<', cutoffMs)
        .where((expression) =>
          expression.or([expression('state', 'in', ['delivered', 'failed']), expression('task_id', 'not in', expression.selectFrom('tasks').select('id'))]),
        )
        .execute();
      const ids = doomed.map((row) => row.id);
      if (ids.length === 0) return 0;
      await transaction.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
      await transaction.deleteFrom('webhook_deliveries').where('id', 'in', ids).execute();
      return ids.length;
    });
  }

  /** The delivery a row holds, its secret opened (a row stored in clear is read as it is). */
  protected toDelivery(row: Selectable<WebhookDeliveriesTable>): WebhookDelivery {
    return { ...deliveryOf(row), secret: row.secret === null ? null : this.#box.open(row.secret) };
  }
}

function deliveryOf(row: Selectable<WebhookDeliveriesTable>): Omit<WebhookDelivery, 'secret'> {
  return {
    id: row.id,
    taskId: row.task_id,
    url: row.url,
    publicBase: row.public_base,
    state: row.state as WebhookState,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    createdAt: row.created_at,
    completedAt: row.completed_at,
  };
}
