// Task timelines on SQLite: as the portable store, but each event is a prepared INSERT in the
// database's group commit, so a task's events share the transaction of the write they describe
// (and of every other task's) instead of taking one each.

import type Database from 'better-sqlite3';
import type { TaskEvent } from '../../core/ports/task-events.js';
import { SqlTaskEventStore } from '../sql/task-event-store.js';
import type { SqliteDatabase } from './database.js';
import { GroupCommit } from './group-commit.js';

export class SqliteTaskEventStore extends SqlTaskEventStore {
  readonly #native: SqliteDatabase['native'];
  #insert: Database.Statement<[string, number, string, string]> | undefined;
  readonly #batches: GroupCommit;

  constructor(database: Pick<SqliteDatabase, 'db' | 'native' | 'lock'>, batches: GroupCommit = GroupCommit.forDatabase(database)) {
    super(database.db);
    this.#native = database.native;
    this.#batches = batches;
  }

  override record(event: TaskEvent): Promise<void> {
    const detail = JSON.stringify(event.detail);
    return this.#batches.run(() => this.#insertRow(event, detail));
  }

  /** Inside a unit of the group commit someone else runs (the task ledger's): no batch of its own. */
  insertInUnit(events: readonly TaskEvent[]): void {
    for (const event of events) this.#insertRow(event, JSON.stringify(event.detail));
  }

  #insertRow(event: TaskEvent, detail: string): void {
    // Prepared on first use: a store may be made before the migrations have created its table.
    this.#insert ??= this.#native.prepare<[string, number, string, string]>('INSERT INTO task_events (task_id, at, kind, detail) VALUES (?, ?, ?, ?)');
    this.#insert.run(event.taskId, event.at, event.kind, detail);
  }
}
