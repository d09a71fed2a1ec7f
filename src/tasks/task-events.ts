// Records each task's timeline by watching the writes made to the task store, so every path that
// moves a task (workers, cancel, a synchronous request handed over) shows up without touching each.
// The timeline is advisory: a failed event write is reported, never allowed to fail the task itself.

import type { Clock } from '../core/ports/clock.js';
import type { TaskEvent, TaskEventKind, TaskEventStore } from '../core/ports/task-events.js';
import type { TaskLedger } from '../core/ports/task-ledger.js';
import type { ClaimOptions, TaskPatch, TaskRecord, TaskStore } from '../core/ports/task-store.js';
import { unpackJobs } from './upstream-jobs.js';

export interface TaskTimelineOptions {
  clock: Clock;
  onError: (error: unknown) => void;
}

/** What a task's timeline records for its creation and for each write its worker makes. */
function timelineNotes(events: TaskEventStore, options: TaskTimelineOptions) {
  const note = (taskId: string, kind: TaskEventKind, detail: Record<string, unknown> = {}, at = options.clock.now()): Promise<void> => {
    const event: TaskEvent = { taskId, at, kind, detail };
    return events.record(event).catch(options.onError);
  };
  const created = (task: TaskRecord): Promise<void> =>
    note(task.id, task.status === 'in_progress' ? 'started' : 'queued', { model: task.model, operation: task.operation }, task.createdAt);
  const updated = async (id: string, patch: TaskPatch): Promise<void> => {
    if (patch.upstreamJob !== undefined && patch.upstreamJob !== null) {
      const jobs = unpackJobs(patch.upstreamJob).filter((job) => job !== undefined);
      const last = jobs.at(-1);
      await note(id, 'submitted', { provider: last?.provider ?? null, channel: last?.channel ?? null, jobs: jobs.length });
    }
    if (patch.progress !== undefined && patch.status === undefined) await note(id, 'polled', { progress: patch.progress });
    if (patch.status === 'succeeded') {
      const images = Array.isArray((patch.result as { data?: unknown[] } | null | undefined)?.data) ? (patch.result as { data: unknown[] }).data.length : 0;
      // Issued together: one batch (one INSERT, or one group commit), in this order.
      await Promise.all([note(id, 'stored', { images }), note(id, 'succeeded')]);
    } else if (patch.status === 'failed') {
      await note(id, 'failed', { code: patch.error?.code ?? null, message: patch.error?.message ?? null });
    } else if (patch.status === 'queued') {
      await note(id, 'queued', { requeued: true });
    }
  };
  return { note, created, updated };
}

/** The same timeline for the writes the task ledger makes (a submission, a success) outside the task store. */
export function withLedgerTimeline(ledger: TaskLedger, events: TaskEventStore, options: TaskTimelineOptions): TaskLedger {
  const { created, updated } = timelineNotes(events, options);
  return {
    async createReserved(task, reservation) {
      await ledger.createReserved(task, reservation);
      await created(task);
    },
    async finishSettled(taskId, owner, patch, reservation, settlement) {
      const written = await ledger.finishSettled(taskId, owner, patch, reservation, settlement);
      if (written) await updated(taskId, patch);
      return written;
    },
  };
}

export function withTaskTimeline(store: TaskStore, events: TaskEventStore, options: TaskTimelineOptions): TaskStore {
  const { note, created, updated } = timelineNotes(events, options);

  return {
    async create(task) {
      await store.create(task);
      await created(task);
    },
    get: (id) => store.get(id),
    list: (filter) => store.list(filter),
    count: (filter) => store.count(filter),
    async claim(owner: string, now: number, leaseExpiresAt: number, claimOptions?: ClaimOptions): Promise<TaskRecord | undefined> {
      const task = await store.claim(owner, now, leaseExpiresAt, claimOptions);
      if (task !== undefined) await note(task.id, 'started', { attempt: task.attempts, resumed: task.upstreamJob !== null }, now);
      return task;
    },
    async claimBatch(owner: string, now: number, leaseExpiresAt: number, limit: number, claimOptions?: ClaimOptions): Promise<TaskRecord[]> {
      const tasks = await store.claimBatch(owner, now, leaseExpiresAt, limit, claimOptions);
      await Promise.all(tasks.map((task) => note(task.id, 'started', { attempt: task.attempts, resumed: task.upstreamJob !== null }, now)));
      return tasks;
    },
    heartbeat: (id, owner, leaseExpiresAt) => store.heartbeat(id, owner, leaseExpiresAt),
    async update(id, owner, patch) {
      const written = await store.update(id, owner, patch);
      if (written) await updated(id, patch);
      return written;
    },
    async cancel(id, now) {
      const canceled = await store.cancel(id, now);
      if (canceled) await note(id, 'canceled', {}, now);
      return canceled;
    },
    async deleteOlderThan(cutoffMs) {
      const removed = await store.deleteOlderThan(cutoffMs);
      await events.deleteOlderThan(cutoffMs).catch(options.onError);
      return removed;
    },
  };
}
