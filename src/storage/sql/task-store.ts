// Asynchronous image tasks in SQL, claimed by workers (in one or several processes) under a lease.
// Everything but the claim is portable Kysely; each backend supplies its claim (sqlite/, postgres/).

import { sql, type Kysely, type Selectable, type Updateable } from 'kysely';
import type { ClaimOptions, TaskRecord, TaskStatus, TaskStore } from '../../core/ports/task-store.js';
import type { DatabaseSchema, TasksTable } from './schema.js';

type TaskPatch = Parameters<TaskStore['update']>[2];

/** Statuses after which a task never changes again. */
export const finishedStatuses: TaskStatus[] = ['succeeded', 'failed', 'canceled'];

export abstract class SqlTaskStore implements TaskStore {
  protected readonly db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.db = db;
  }

  async create(task: TaskRecord): Promise<void> {
    await this.db.insertInto('tasks').values(toRow(task)).execute();
  }

  async get(id: string): Promise<TaskRecord | undefined> {
    const row = await this.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  /** Newest first; `after` is the id of a task of the same key, and the page holds tasks created before it. */
  async list(filter: { keyId: string; status?: TaskStatus; limit: number; after?: string }): Promise<TaskRecord[]> {
    let query = this.db.selectFrom('tasks').selectAll().where('key_id', '=', filter.keyId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.after !== undefined) {
      const cursor = await this.db
        .selectFrom('tasks')
        .select(['created_at', 'id'])
        .where('id', '=', filter.after)
        .where('key_id', '=', filter.keyId)
        .executeTakeFirst();
      // A cursor that names no task of this key points nowhere: there is nothing after it.
      if (cursor === undefined) return [];
      query = query.where((expression) =>
        expression.or([
          expression('created_at', '<', cursor.created_at),
          expression.and([expression('created_at', '=', cursor.created_at), expression('id', '<', cursor.id)]),
        ]),
      );
    }
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toRecord);
  }

  /**
   * Atomically takes the oldest claimable task for `owner`: how a backend makes two workers (or
   * processes) never take the same row is its own (SQLite's single writer, Postgres' row locks).
   */
  abstract claim(owner: string, now: number, leaseExpiresAt: number, options?: ClaimOptions): Promise<TaskRecord | undefined>;

  /** Claims one after another, each seeing the keys the ones before served (a backend may do it in one statement or transaction). */
  async claimBatch(owner: string, now: number, leaseExpiresAt: number, limit: number, options: ClaimOptions = {}): Promise<TaskRecord[]> {
    const served = [...(options.fairness?.recentlyServedKeys ?? [])];
    const claimed: TaskRecord[] = [];
    while (claimed.length < limit) {
      const task = await this.claim(owner, now, leaseExpiresAt, options.fairness ? { ...options, fairness: { recentlyServedKeys: served } } : options);
      if (task === undefined) break;
      claimed.push(task);
      const at = served.indexOf(task.keyId);
      if (at !== -1) served.splice(at, 1);
      served.push(task.keyId);
    }
    return claimed;
  }

  async heartbeat(id: string, owner: string, leaseExpiresAt: number): Promise<boolean> {
    const result = await this.db
      .updateTable('tasks')
      .set({ lease_expires_at: leaseExpiresAt })
      .where('id', '=', id)
      .where('lease_owner', '=', owner)
      .where('status', '=', 'in_progress')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async update(id: string, owner: string, patch: TaskPatch): Promise<boolean> {
    const changes = toPatchRow(patch);
    // An empty patch still answers whether the lease is held.
    if (Object.keys(changes).length === 0) {
      const row = await this.db.selectFrom('tasks').select('id').where('id', '=', id).where('lease_owner', '=', owner).executeTakeFirst();
      return row !== undefined;
    }
    const result = await this.db.updateTable('tasks').set(changes).where('id', '=', id).where('lease_owner', '=', owner).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Also drops the lease, so the worker running the task sees its next heartbeat fail and stops. */
  async cancel(id: string, now: number): Promise<boolean> {
    const result = await this.db
      .updateTable('tasks')
      .set({ status: 'canceled', completed_at: now, lease_owner: null, lease_expires_at: null })
      .where('id', '=', id)
      .where('status', 'in', ['queued', 'in_progress'])
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  /** Deletes finished tasks created before the cutoff; queued and running tasks are never deleted. */
  async deleteOlderThan(cutoffMs: number): Promise<number> {
    const result = await this.db
      .deleteFrom('tasks')
      .where('created_at', '<', cutoffMs)
      .where('status', 'in', finishedStatuses)
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toJson(value: unknown): string | null {
  return value === null ? null : JSON.stringify(value);
}

function fromJson<T>(text: string | null): T | null {
  return text === null ? null : (JSON.parse(text) as T);
}

export function toRow(task: TaskRecord): TasksTable {
  return {
    id: task.id,
    key_id: task.keyId,
    operation: task.operation,
    model: task.model,
    status: task.status,
    progress: task.progress,
    request: JSON.stringify(task.request),
    result: toJson(task.result),
    error: toJson(task.error),
    upstream_job: toJson(task.upstreamJob),
    lease_owner: task.leaseOwner,
    lease_expires_at: task.leaseExpiresAt,
    attempts: task.attempts,
    created_at: task.createdAt,
    started_at: task.startedAt,
    completed_at: task.completedAt,
  };
}

export function toPatchRow(patch: TaskPatch): Updateable<TasksTable> {
  const changes: Updateable<TasksTable> = {};
  if (patch.status !== undefined) changes.status = patch.status;
  if (patch.progress !== undefined) changes.progress = patch.progress;
  if (patch.result !== undefined) changes.result = toJson(patch.result);
  if (patch.error !== undefined) changes.error = toJson(patch.error);
  if (patch.upstreamJob !== undefined) changes.upstream_job = toJson(patch.upstreamJob);
  if (patch.completedAt !== undefined) changes.completed_at = patch.completedAt;
  if (patch.startedAt !== undefined) changes.started_at = patch.startedAt;
  return changes;
}

export function toRecord(row: Selectable<TasksTable>): TaskRecord {
  return {
    id: row.id,
    keyId: row.key_id,
    operation: row.operation as TaskRecord['operation'],
    model: row.model,
    status: row.status as TaskStatus,
    progress: row.progress,
    request: JSON.parse(row.request) as TaskRecord['request'],
    result: fromJson<NonNullable<TaskRecord['result']>>(row.result),
    error: fromJson<NonNullable<TaskRecord['error']>>(row.error),
    upstreamJob: fromJson<NonNullable<TaskRecord['upstreamJob']>>(row.upstream_job),
    leaseOwner: row.lease_owner,
    leaseExpiresAt: row.lease_expires_at,
    attempts: row.attempts,
    createdAt: row.created_at,
    startedAt: row.started_at,
    completedAt: row.completed_at,
  };
}

/** The tasks `keyId` has waiting, counted no further than `atMost` from an index of queued tasks by key: no row is read. */
export async function countQueued(connection: Kysely<DatabaseSchema>, keyId: string, atMost: number): Promise<number> {
  const row = await connection
    .selectFrom((builder) => builder.selectFrom('tasks').select(sql<number>`1`.as('one')).where('key_id', '=', keyId).where('status', '=', 'queued').limit(atMost).as('matching'))
    .select((expression) => expression.fn.countAll<number>().as('total'))
    .executeTakeFirstOrThrow();
  return Number(row.total);
}
