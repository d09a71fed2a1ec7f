// The PostgreSQL claim of the task store (everything else is the portable SqlTaskStore): any replica
// takes any claimable task, the rows picked under `FOR UPDATE SKIP LOCKED` so concurrent claims from
// many processes never wait on each other nor take the same task.

import { sql } from 'kysely';
import type { ClaimOptions, TaskRecord } from '../../core/ports/task-store.js';
import type { TasksTable } from '../sql/schema.js';
import { SqlTaskStore, toRecord } from '../sql/task-store.js';

export class PostgresTaskStore extends SqlTaskStore {

  async claim(owner: string, now: number, leaseExpiresAt: number, options: ClaimOptions = {}): Promise<TaskRecord | undefined> {
    return (await this.claimBatch(owner, now, leaseExpiresAt, 1, options))[0];
  }

  /**
   * Up to `limit` tasks in one statement (one round trip, one commit), in exactly the order as many
   * single claims would take them. Claimable: queued, or in progress with an expired lease (its owner
   * died or stopped heartbeating: the worker that takes it resumes recorded upstream jobs instead of
   * submitting again). The order is the SQLite claim's: with fairness, keys with the fewest tasks
   * running anywhere first — counted once per key from the table, so it spans every replica — then
   * the keys this pool served least recently, then oldest first.
   *
   * Successive single claims change the order as they go: each task taken adds one to its key's
   * running count and makes the key the most recently served. So the n-th claimable task of a key
   * (n from 0, oldest first) is taken at "level" running + n; within a level, keys not yet taken in
   * this batch come first (in the single claim's order: served rank, then their oldest task), then
   * the keys already taken, in the order they were last taken — which is the order of their first
   * take: the later a key entered (the higher its running count), the earlier, then as they entered.
   * One claim per statement used to cost a commit per task, and the pool's one claim loop waited
   * for each in turn.
   */
  override async claimBatch(owner: string, now: number, leaseExpiresAt: number, limit: number, options: ClaimOptions = {}): Promise<TaskRecord[]> {
    if (limit <= 0) return [];
    const claimable = sql`(t.status = 'queued' OR (t.status = 'in_progress' AND (t.lease_expires_at <= ${now} OR t.lease_expires_at IS NULL)))`;
    const excluded = options.excludeModels ?? [];
    const exclusion = excluded.length > 0 ? sql`AND t.model NOT IN (${sql.join(excluded)})` : sql``;
    const served = options.fairness?.recentlyServedKeys ?? [];
    const servedRank = served.length > 0 ? sql`CASE c.key_id ${sql.join(served.map((keyId, index) => sql`WHEN ${keyId} THEN ${index + 1}`), sql` `)} ELSE 0 END` : sql`0`;
    const order = options.fairness
      ? sql`k.running + c.position,
            CASE WHEN c.position = 0 THEN 0 ELSE 1 END,
            CASE WHEN c.position = 0 THEN k.served_rank ELSE -k.running END,
            CASE WHEN c.position = 0 THEN c.created_at ELSE k.served_rank END,
            CASE WHEN c.position = 0 THEN 0 ELSE k.first_created_at END,
            CASE WHEN c.position = 0 THEN c.id ELSE k.first_id END`
      : sql`c.created_at, c.id`;
    // The timeline's `started` events (what task-events.ts would write after the claim), in its statement.
    const started = options.recordStarted
      ? sql`,
      started AS (
        INSERT INTO task_events (task_id, at, kind, detail)
        SELECT id, CAST(${now} AS bigint), 'started', jsonb_build_object('attempt', attempts, 'resumed', upstream_job IS NOT NULL)::text
        FROM claimed ORDER BY claim_order
      )`
      : sql``;
    const result = await sql<TasksTable & { claim_order: string }>`
      WITH candidates AS (
        SELECT t.id, t.key_id, t.created_at, row_number() OVER (PARTITION BY t.key_id ORDER BY t.created_at, t.id) - 1 AS position
        FROM tasks AS t
        WHERE ${claimable} ${exclusion}
      ),
      keys AS (
        SELECT c.key_id,
          (SELECT count(*) FROM tasks AS running WHERE running.key_id = c.key_id AND running.status = 'in_progress' AND running.lease_expires_at > ${now}) AS running,
          ${servedRank} AS served_rank,
          min(c.created_at) AS first_created_at,
          min(c.id) FILTER (WHERE c.position = 0) AS first_id
        FROM candidates AS c
        GROUP BY c.key_id
      ),
      ordered AS (
        SELECT c.id, row_number() OVER (ORDER BY ${order}) AS claim_order
        FROM candidates AS c JOIN keys AS k ON k.key_id = c.key_id
      ),
      picked AS (
        SELECT t.id, o.claim_order FROM tasks AS t JOIN ordered AS o ON o.id = t.id
        WHERE ${claimable}
        ORDER BY o.claim_order
        LIMIT ${limit}
        FOR UPDATE OF t SKIP LOCKED
      ),
      claimed AS (
        UPDATE tasks AS t
        SET status = 'in_progress', lease_owner = ${owner}, lease_expires_at = ${leaseExpiresAt},
            attempts = t.attempts + 1, started_at = coalesce(t.started_at, ${now})
        FROM picked
        WHERE t.id = picked.id AND ${claimable}
        RETURNING t.*, picked.claim_order
      )${started}
      SELECT * FROM claimed`.execute(this.db);
    return result.rows.sort((a, b) => Number(a.claim_order) - Number(b.claim_order)).map((row) => toRecord(row));
  }
}
