// The task store on SQLite: the hot path (create, claim, heartbeat, update, cancel, get, count) as
// prepared better-sqlite3 statements, and every write in the database's group commit
// (./group-commit.ts), shared with billing and the task timeline: a task's write, its billing unit and
// its timeline event issued in the same turn of the event loop share one BEGIN IMMEDIATE … COMMIT
// with every other task's. Listing and retention stay on the portable SqlTaskStore's query builder.

import type Database from 'better-sqlite3';
import type { TaskEvent } from '../../core/ports/task-events.js';
import type { ClaimOptions, TaskRecord, TaskStore } from '../../core/ports/task-store.js';
import type { TasksTable } from '../sql/schema.js';
import { SqlTaskStore, toPatchRow, toRecord, toRow } from '../sql/task-store.js';
import type { SqliteDatabase } from './database.js';
import { GroupCommit } from './group-commit.js';
import { SqliteTaskEventStore } from './task-event-store.js';

type TaskPatch = Parameters<TaskStore['update']>[2];

interface Candidate {
  id: string;
  created_at: number;
}

/** Claimable = queued, or in progress with an expired (or missing) lease; `@excluded` is a JSON array of models to skip. */
function prepareStatements(native: Database.Database) {
  const notExcluded = 'model NOT IN (SELECT value FROM json_each(@excluded))';
  return {
    insert: native.prepare(
      `INSERT INTO tasks (id, key_id, operation, model, status, progress, request, result, error, upstream_job, lease_owner, lease_expires_at, attempts, created_at, started_at, completed_at)
       VALUES (@id, @key_id, @operation, @model, @status, @progress, @request, @result, @error, @upstream_job, @lease_owner, @lease_expires_at, @attempts, @created_at, @started_at, @completed_at)`,
    ),
    get: native.prepare<[string], TasksTable>('SELECT * FROM tasks WHERE id = ?'),
    // Index-only (key_id, status, …): no row is read or parsed. A plain COUNT, not one of a
    // `LIMIT atMost` subquery: that subquery ran as a co-routine yielding each entry, 1.7× the cost per
    // entry (82 µs per submission with 500 queued in scenario 4). What it walks is bounded all the same:
    // a key's queued tasks stop growing at the queue limit this count enforces.
    countQueued: native.prepare<[string], { total: number }>("SELECT COUNT(*) AS total FROM tasks WHERE key_id = ? AND status = 'queued'"),
    // Keys with something claimable. The queued ones by skipping through the (status, key_id, …) index
    // one key at a time (a lookup per key, however many tasks each has queued) — SELECT DISTINCT read
    // every queued entry and each row's model, 137 µs per claim with 500 queued. Models are not
    // looked at here: a key whose queued tasks are all of excluded models finds no candidate in nextOf.
    // Expired leases among the few running rows.
    claimableKeys: native.prepare<{ now: number }, { key_id: string }>(
      `WITH RECURSIVE queued (key_id) AS (
         SELECT (SELECT key_id FROM tasks WHERE status = 'queued' ORDER BY key_id LIMIT 1)
         UNION ALL
         SELECT (SELECT key_id FROM tasks WHERE status = 'queued' AND key_id > queued.key_id ORDER BY key_id LIMIT 1) FROM queued WHERE queued.key_id IS NOT NULL
       )
       SELECT key_id FROM queued WHERE key_id IS NOT NULL
       UNION
       SELECT key_id FROM tasks WHERE status = 'in_progress' AND (lease_expires_at <= @now OR lease_expires_at IS NULL)`,
    ),
    oldestQueued: native.prepare<{ key: string; excluded: string }, Candidate>(
      `SELECT id, created_at FROM tasks WHERE status = 'queued' AND key_id = @key AND ${notExcluded} ORDER BY created_at, id LIMIT 1`,
    ),
    // The same when no model is excluded: answered from the index alone, where the model test read
    // the row of each task looked at.
    oldestQueuedOfAnyModel: native.prepare<{ key: string }, Candidate>(
      "SELECT id, created_at FROM tasks WHERE status = 'queued' AND key_id = @key ORDER BY created_at, id LIMIT 1",
    ),
    oldestExpired: native.prepare<{ key: string; now: number; excluded: string }, Candidate>(
      `SELECT id, created_at FROM tasks WHERE status = 'in_progress' AND key_id = @key AND (lease_expires_at <= @now OR lease_expires_at IS NULL) AND ${notExcluded}
       ORDER BY created_at, id LIMIT 1`,
    ),
    running: native.prepare<[string, number], { total: number }>(
      "SELECT COUNT(*) AS total FROM tasks WHERE key_id = ? AND status = 'in_progress' AND lease_expires_at > ?",
    ),
    // The claimable condition again on the row itself: a row that stopped being claimable is not taken.
    take: native.prepare<{ id: string; owner: string; now: number; lease: number }, TasksTable>(
      `UPDATE tasks SET status = 'in_progress', lease_owner = @owner, lease_expires_at = @lease, attempts = attempts + 1, started_at = coalesce(started_at, @now)
       WHERE id = @id AND (status = 'queued' OR (status = 'in_progress' AND (lease_expires_at <= @now OR lease_expires_at IS NULL)))
       RETURNING *`,
    ),
    heartbeat: native.prepare<[number, string, string]>("UPDATE tasks SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND status = 'in_progress'"),
    held: native.prepare<[string, string], { id: string }>('SELECT id FROM tasks WHERE id = ? AND lease_owner = ?'),
    cancel: native.prepare<[number, string]>(
      "UPDATE tasks SET status = 'canceled', completed_at = ?, lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND status IN ('queued', 'in_progress')",
    ),
  };
}

/** A key that has claimable tasks, as the fair order sees it. */
interface KeyTurn {
  keyId: string;
  /** Its tasks running anywhere (every process's, read from the table). */
  running: number;
  /** 0: not served lately by this pool; otherwise higher = served more recently. */
  servedRank: number;
  next: Candidate;
}

export class SqliteTaskStore extends SqlTaskStore {
  readonly #native: Database.Database;
  #prepared: ReturnType<typeof prepareStatements> | undefined;
  readonly #batches: GroupCommit;
  /** The timeline, for events written in a claim's unit. */
  readonly #events: SqliteTaskEventStore;
  /** UPDATE statements by the set of columns a patch changes (a handful of shapes in practice). */
  readonly #updates = new Map<string, Database.Statement>();

  /**
   * `batches`: the database's group commit, shared with billing and the timeline (a private one by
   * default). `events`: the timeline's store on the same database (one of its own by default: it keeps
   * nothing but a prepared statement).
   */
  constructor(database: Pick<SqliteDatabase, 'db' | 'native' | 'lock'>, batches: GroupCommit = GroupCommit.forDatabase(database), events?: SqliteTaskEventStore) {
    super(database.db);
    this.#native = database.native;
    this.#batches = batches;
    this.#events = events ?? new SqliteTaskEventStore(database, batches);
  }

  /** Prepared on first use: a store may be made before the migrations have created its table. */
  get #statements(): ReturnType<typeof prepareStatements> {
    this.#prepared ??= prepareStatements(this.#native);
    return this.#prepared;
  }

  override create(task: TaskRecord): Promise<void> {
    return this.#batches.run(() => this.insertInUnit(task));
  }

  override async get(id: string): Promise<TaskRecord | undefined> {
    const row = await this.#batches.read(() => this.#statements.get.get(id));
    return row === undefined ? undefined : toRecord(row);
  }

  override async claim(owner: string, now: number, leaseExpiresAt: number, options: ClaimOptions = {}): Promise<TaskRecord | undefined> {
    return (await this.claimBatch(owner, now, leaseExpiresAt, 1, options))[0];
  }

  /**
   * Up to `limit` tasks in one unit of the group commit, taken in exactly the order as many single
   * claims would take them: SQLite's write lock is held from the first read, so no other connection
   * or process can take the same rows. With fairness the key is chosen first — fewest running, then
   * least recently served, then the oldest claimable task — and then that key's oldest task, through
   * indexes, so a claim no longer orders every queued task by a count of its key's running ones.
   */
  override claimBatch(owner: string, now: number, leaseExpiresAt: number, limit: number, options: ClaimOptions = {}): Promise<TaskRecord[]> {
    return this.#batches.run(() => this.#claimInUnit(owner, now, leaseExpiresAt, limit, options));
  }

  #claimInUnit(owner: string, now: number, leaseExpiresAt: number, limit: number, options: ClaimOptions): TaskRecord[] {
    const excludeModels = options.excludeModels ?? [];
    const excluded = JSON.stringify(excludeModels);
    const statements = this.#statements;
    const nextOf = (keyId: string): Candidate | undefined => {
      const queued = excludeModels.length === 0 ? statements.oldestQueuedOfAnyModel.get({ key: keyId }) : statements.oldestQueued.get({ key: keyId, excluded });
      const expired = statements.oldestExpired.get({ key: keyId, now, excluded });
      if (queued === undefined || expired === undefined) return queued ?? expired;
      return compareCandidates(queued, expired) <= 0 ? queued : expired;
    };
    const served = options.fairness?.recentlyServedKeys ?? [];
    let lastRank = served.length;
    const ranks = new Map(served.map((keyId, index) => [keyId, index + 1]));
    const turns: KeyTurn[] = [];
    for (const { key_id: keyId } of statements.claimableKeys.all({ now })) {
      const next = nextOf(keyId);
      if (next === undefined) continue;
      const running = options.fairness ? (statements.running.get(keyId, now)?.total ?? 0) : 0;
      turns.push({ keyId, running, servedRank: ranks.get(keyId) ?? 0, next });
    }
    const byTurn = options.fairness ? compareFairly : (a: KeyTurn, b: KeyTurn) => compareCandidates(a.next, b.next);
    const claimed: TaskRecord[] = [];
    while (claimed.length < limit && turns.length > 0) {
      let best = 0;
      for (let index = 1; index < turns.length; index += 1) {
        if (byTurn(turns[index] as KeyTurn, turns[best] as KeyTurn) < 0) best = index;
      }
      const turn = turns[best] as KeyTurn;
      const row = statements.take.get({ id: turn.next.id, owner, now, lease: leaseExpiresAt });
      if (row !== undefined) {
        const task = toRecord(row);
        claimed.push(task);
        // In the claim's own unit: no savepoint, batch or COMMIT of their own.
        if (options.recordStarted) this.#events.insertInUnit([{ taskId: task.id, at: now, kind: 'started', detail: { attempt: task.attempts, resumed: task.upstreamJob !== null } }]);
        turn.running += 1;
        lastRank += 1;
        turn.servedRank = lastRank;
        // The batch is full: no next candidate to look up.
        if (claimed.length >= limit) break;
      }
      const next = nextOf(turn.keyId);
      if (next === undefined) turns.splice(best, 1);
      else turn.next = next;
    }
    return claimed;
  }

  override heartbeat(id: string, owner: string, leaseExpiresAt: number): Promise<boolean> {
    return this.#batches.run(() => this.#statements.heartbeat.run(leaseExpiresAt, id, owner).changes > 0);
  }

  override update(id: string, owner: string, patch: TaskPatch): Promise<boolean> {
    // An empty patch still answers whether the lease is held.
    if (Object.keys(toPatchRow(patch)).length === 0) return this.#batches.read(() => this.#statements.held.get(id, owner) !== undefined);
    return this.#batches.run(() => this.updateInUnit(id, owner, patch));
  }

  /** How many tasks `keyId` has waiting, inside a unit of the group commit (the task ledger's queue limit). */
  queuedInUnit(keyId: string): number {
    return this.#statements.countQueued.get(keyId)?.total ?? 0;
  }

  /**
   * The task row written inside a unit of the group commit someone else runs (the task ledger's,
   * ./billing.ts): no batch of its own.
   */
  insertInUnit(task: TaskRecord): void {
    this.#statements.insert.run(toRow(task));
  }

  /** update() inside a unit of the group commit: false (nothing written) when `owner` no longer holds the lease. */
  updateInUnit(id: string, owner: string, patch: TaskPatch): boolean {
    const changes = toPatchRow(patch);
    const columns = Object.keys(changes).sort();
    if (columns.length === 0) return this.#statements.held.get(id, owner) !== undefined;
    // toPatchRow's object is this call's own: the parameters added to it, not spread and extended (docs/architecture.md: no hidden class per request).
    const parameters = changes as Record<string, unknown>;
    parameters.id = id;
    parameters.owner = owner;
    return this.#updateStatement(columns).run(parameters).changes > 0;
  }

  override cancel(id: string, now: number): Promise<boolean> {
    return this.#batches.run(() => this.#statements.cancel.run(now, id).changes > 0);
  }

  #updateStatement(columns: string[]): Database.Statement {
    const shape = columns.join(',');
    let statement = this.#updates.get(shape);
    if (statement === undefined) {
      // Column names come from toPatchRow's fixed set, never from input.
      statement = this.#native.prepare(`UPDATE tasks SET ${columns.map((column) => `${column} = @${column}`).join(', ')} WHERE id = @id AND lease_owner = @owner`);
      this.#updates.set(shape, statement);
    }
    return statement;
  }
}

function compareCandidates(a: Candidate, b: Candidate): number {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Fewest running first, then least recently served (never served first), then the oldest task. */
function compareFairly(a: KeyTurn, b: KeyTurn): number {
  return a.running - b.running || a.servedRank - b.servedRank || compareCandidates(a.next, b.next);
}
