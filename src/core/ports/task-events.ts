// A task's timeline: queued → started → submitted upstream → polled → stored → succeeded/failed/canceled.

export type TaskEventKind = 'queued' | 'started' | 'submitted' | 'polled' | 'stored' | 'succeeded' | 'failed' | 'canceled';

export interface TaskEvent {
  taskId: string;
  at: number;
  kind: TaskEventKind;
  detail: Record<string, unknown>;
}

export interface TaskEventStore {
  record(event: TaskEvent): Promise<void>;
  /** Oldest first. */
  list(taskId: string): Promise<TaskEvent[]>;
  deleteOlderThan(cutoffMs: number): Promise<number>;
}
