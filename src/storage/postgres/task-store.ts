// The PostgreSQL claim of the task store (everything else is the portable SqlTaskStore): any replica
// takes any claimable task, the rows picked under `FOR UPDATE SKIP LOCKED` so concurrent claims from
// many processes never wait on each other nor take the same task.

import { sql, type Kysely } from 'kysely';
import type { ClaimOptions, TaskRecord } from '../../core/ports/task-store.js';
import type { DatabaseSchema, TasksTable } from '../sql/schema.js';
import { SqlTaskStore, toRecord } from '../sql/task-store.js';
import type { PreparedStatements, Statement } from './prepared-statements.js';

/** The tasks table's columns by name: a prepared `SELECT *` fails once a column is added (prepared-statements.ts). */
const taskColumns =
  'id, key_id, operation, model, status, progress, request, result, error, upstream_job, lease_owner, lease_expires_at, attempts, created_at, started_at, completed_at';
const claimedColumns = taskColumns
  .split(', ')
  .map((column) => `t.${column}`)
  .join(', ');
const getText = `SELECT ${taskColumns} FROM tasks WHERE id = $1`;

export class PostgresTaskStore extends SqlTaskStore {
  readonly #statements: PreparedStatements;

  constructor(db: Kysely<DatabaseSchema>, statements: PreparedStatements) {
    super(db);
    this.#statements = statements;
  }

  /** Every poll of a task: a prepared statement. */
  override async get(id: string): Promise<TaskRecord | undefined> {
    const row = (await this.#statements.query<TasksTable>({ text: getText, values: [id] })).rows[0];
    return row === undefined ? undefined : toRecord(row);
  }

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
    const result = await this.#statements.query<TasksTable & { claim_order: string }>(claimStatement(this.db, owner, now, leaseExpiresAt, limit, options));
    return result.rows.sort((a, b) => Number(a.claim_order) - Number(b.claim_order)).map((row) => toRecord(row));
  }
}

/** The claim of `PostgresTaskStore.claimBatch` as one statement (exported for the test that reads its plan). */
export function claimStatement(db: Kysely<DatabaseSchema>, owner: string, now: number, leaseExpiresAt: number, limit: number, options: ClaimOptions): Statement {
  const claimable = sql`(t.status = 'queued' OR (t.status = 'in_progress' AND (t.lease_expires_at <= ${now} OR t.lease_expires_at IS NULL)))`;
  // Arrays as parameters, so the text is one of four (fairness, timeline) and stays prepared. The
  // statuses are literals: a partial index serves a prepared statement's generic plan only when the
  // text itself implies the index's condition.
  const exclusion = sql`AND NOT (t.model = ANY (${options.excludeModels ?? []}::text[]))`;
  const servedRank = sql`coalesce(array_position(${options.fairness?.recentlyServedKeys ?? []}::text[], c.key_id), 0)`;
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
  // A key's n-th claimable task can only be picked after its n earlier ones, so no more than `limit`
  // of each key's queued tasks (and of its expired leases) can be among the picked: the keys found by
  // skipping through the partial indexes of queued and running rows (migration 092) one key at a
  // time, then each key's first `limit` by age from them. Never a scan of every 'queued' or
  // 'in_progress' entry of a status index: an index keeps an entry for each row version the status
  // ever had until VACUUM removes it, and the bitmap scan the planner chose visited each one's table
  // page at every claim (3.5 ms and 4,000 buffers per claim after ~7,000 tasks with autovacuum off),
  // while the key lookups' index scans mark the dead entries they meet and pass them by from then on
  // (task-claim-cost.test.ts). The first `limit` are the first that no concurrent claim holds: the rows
  // are locked (SKIP LOCKED) as they are looked up, so a claim racing another takes the next ones instead
  // of picking among rows the other has and coming back empty. Those not picked stay locked only until
  // the statement commits.
  const firstOfEachKey = (status: 'queued' | 'in_progress', expired: ReturnType<typeof sql>) => sql`
      SELECT first.id, first.key_id, first.created_at
      FROM ${sql.raw(status === 'queued' ? 'queued_keys' : 'running_keys')} AS k CROSS JOIN LATERAL (
        SELECT t.id, t.key_id, t.created_at FROM tasks AS t
        WHERE t.status = ${sql.lit(status)} AND t.key_id = k.key_id ${expired} ${exclusion}
        ORDER BY t.created_at, t.id
        LIMIT ${limit}
        FOR UPDATE OF t SKIP LOCKED
      ) AS first`;
  const keysWith = (status: 'queued' | 'in_progress') => sql`
      SELECT (SELECT key_id FROM tasks WHERE status = ${sql.lit(status)} ORDER BY key_id LIMIT 1)
      UNION ALL
      SELECT (SELECT key_id FROM tasks WHERE status = ${sql.lit(status)} AND key_id > k.key_id ORDER BY key_id LIMIT 1) FROM ${sql.raw(status === 'queued' ? 'queued_keys' : 'running_keys')} AS k WHERE k.key_id IS NOT NULL`;
  const query = sql<TasksTable & { claim_order: string }>`
    WITH RECURSIVE queued_keys (key_id) AS (${keysWith('queued')}),
    running_keys (key_id) AS (${keysWith('in_progress')}),
    candidates AS (
      SELECT c.id, c.key_id, c.created_at, row_number() OVER (PARTITION BY c.key_id ORDER BY c.created_at, c.id) - 1 AS position
      FROM (
        ${firstOfEachKey('queued', sql``)}
        UNION ALL
        ${firstOfEachKey('in_progress', sql`AND (t.lease_expires_at <= ${now} OR t.lease_expires_at IS NULL)`)}
      ) AS c
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
      -- By primary key (the ids as an array), so the planner cannot read the rows through the status again.
      SELECT t.id, o.claim_order FROM tasks AS t JOIN ordered AS o ON o.id = t.id
      WHERE t.id = ANY (ARRAY(SELECT id FROM ordered)) AND ${claimable}
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
      RETURNING ${sql.raw(claimedColumns)}, picked.claim_order
    )${started}
    SELECT * FROM claimed`.compile(db);
  return { text: query.sql, values: [...query.parameters] };
}
