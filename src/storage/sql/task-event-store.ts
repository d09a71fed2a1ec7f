// Task timelines on any SQL backend: one row per event, read oldest first.

import type { Kysely } from 'kysely';
import type { TaskEvent, TaskEventKind, TaskEventStore } from '../../core/ports/task-events.js';
import type { DatabaseSchema } from './schema.js';

export class SqlTaskEventStore implements TaskEventStore {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async record(event: TaskEvent): Promise<void> {
    await this.#db.insertInto('task_events').values({ task_id: event.taskId, at: event.at, kind: event.kind, detail: JSON.stringify(event.detail) }).execute();
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
