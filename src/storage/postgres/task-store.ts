// The PostgreSQL claim of the task store (everything else is the portable SqlTaskStore): any replica
// takes any claimable task, the row picked under `FOR UPDATE SKIP LOCKED` so concurrent claims from
// many processes never wait on each other nor take the same task.

import { sql } from 'kysely';
import type { ClaimOptions, TaskRecord } from '../../core/ports/task-store.js';
import type { TasksTable } from '../sql/schema.js';
import { SqlTaskStore, toRecord } from '../sql/task-store.js';

export class PostgresTaskStore extends SqlTaskStore {
  /**
   * Claimable: queued, or in progress with an expired lease (its owner died or stopped heartbeating:
   * the worker that takes it resumes recorded upstream jobs instead of submitting again). The order
   * is the SQLite claim's: with fairness, keys with the fewest tasks running anywhere first — the
   * count is read from the table, so it spans every replica — then the keys this pool served least
   * recently, then oldest first.
   */
  async claim(owner: string, now: number, leaseExpiresAt: number, options: ClaimOptions = {}): Promise<TaskRecord | undefined> {
    const claimable = sql`(t.status = 'queued' OR (t.status = 'in_progress' AND (t.lease_expires_at <= ${now} OR t.lease_expires_at IS NULL)))`;
    const excluded = options.excludeModels ?? [];
    const exclusion = excluded.length > 0 ? sql`AND t.model NOT IN (${sql.join(excluded)})` : sql``;
    const order = [];
    if (options.fairness) {
      order.push(sql`(SELECT count(*) FROM tasks AS running WHERE running.key_id = t.key_id AND running.status = 'in_progress' AND running.lease_expires_at > ${now})`);
      const served = options.fairness.recentlyServedKeys;
      if (served.length > 0) order.push(sql`CASE t.key_id ${sql.join(served.map((keyId, index) => sql`WHEN ${keyId} THEN ${index + 1}`), sql` `)} ELSE 0 END`);
    }
    order.push(sql`t.created_at`, sql`t.id`);
    const result = await sql<TasksTable>`
      WITH candidate AS (
        SELECT t.id FROM tasks AS t
        WHERE ${claimable} ${exclusion}
        ORDER BY ${sql.join(order)}
        LIMIT 1
        FOR UPDATE OF t SKIP LOCKED
      )
      UPDATE tasks AS t
      SET status = 'in_progress', lease_owner = ${owner}, lease_expires_at = ${leaseExpiresAt},
          attempts = t.attempts + 1, started_at = coalesce(t.started_at, ${now})
      FROM candidate
      WHERE t.id = candidate.id AND ${claimable}
      RETURNING t.*`.execute(this.db);
    const row = result.rows[0];
    return row === undefined ? undefined : toRecord(row);
  }
}
