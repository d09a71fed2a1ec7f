// Task timelines on any SQL backend: one row per event, read oldest first.

import type { Kysely } from 'kysely';
import type { TaskEvent, TaskEventKind, TaskEventStore } from '../../core/ports/task-events.js';
import type { DatabaseSchema } from './schema.js';

/** Rows one INSERT carries at most; the rest go in the next. */
const maxRowsPerInsert = 500;

interface PendingEvent {
  row: { task_id: string; at: number; kind: string; detail: string };
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** An event as its table row. */
export function toEventRow(event: TaskEvent): { task_id: string; at: number; kind: string; detail: string } {
  return { task_id: event.taskId, at: event.at, kind: event.kind, detail: JSON.stringify(event.detail) };
}

export class SqlTaskEventStore implements TaskEventStore {
  readonly #db: Kysely<DatabaseSchema>;
  #pending: PendingEvent[] = [];

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  /**
   * Events recorded in one turn of the event loop (every task's) go in one multi-row INSERT, each
   * caller resolving once it is committed: on PostgreSQL a task's four events were four round trips
   * and four commits of their own, each holding one of the pool's few connections.
   */
  record(event: TaskEvent): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#pending.push({ row: toEventRow(event), resolve, reject });
      if (this.#pending.length === 1) setImmediate(() => void this.#flush());
    });
  }

  async #flush(): Promise<void> {
    const batch = this.#pending.splice(0, maxRowsPerInsert);
    if (this.#pending.length > 0) setImmediate(() => void this.#flush());
    try {
      await this.#db.insertInto('task_events').values(batch.map((pending) => pending.row)).execute();
      for (const pending of batch) pending.resolve();
    } catch (error) {
      for (const pending of batch) pending.reject(error);
    }
  }

  async list(taskId: string): Promise<TaskEvent[]> {
    const rows = await this.#db.selectFrom('task_events').selectAll().where('task_id', '=', taskId).orderBy('id', 'asc').execute();
    return rows.map((row) => ({ taskId: row.task_id, at: row.at, kind: row.kind as TaskEventKind, detail: JSON.parse(row.detail) as Record<string, unknown> }));
  }

  async deleteOlderThan(cutoffMs: number): Promise<number> {
    const result = await this.#db.deleteFrom('task_events').where('at', '<', cutoffMs).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
