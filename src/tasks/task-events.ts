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
/** The claim's options with `recordStarted`: copied onto a fresh object, since a spread plus a field made a hidden class per claim. */
function recordingStarts(options: ClaimOptions | undefined): ClaimOptions {
  const recording: ClaimOptions = Object.assign({}, options);
  recording.recordStarted = true;
  return recording;
}

function timelineEvents(clock: Clock) {
  const event = (taskId: string, kind: TaskEventKind, detail: Record<string, unknown> = {}, at = clock.now()): TaskEvent => ({ taskId, at, kind, detail });
  const created = (task: TaskRecord): TaskEvent[] => [
    event(task.id, task.status === 'in_progress' ? 'started' : 'queued', { model: task.model, operation: task.operation }, task.createdAt),
  ];
  const updated = (id: string, patch: TaskPatch): TaskEvent[] => {
    const events: TaskEvent[] = [];
    if (patch.upstreamJob !== undefined && patch.upstreamJob !== null) {
      const jobs = unpackJobs(patch.upstreamJob).filter((job) => job !== undefined);
      const last = jobs.at(-1);
      events.push(event(id, 'submitted', { provider: last?.provider ?? null, channel: last?.channel ?? null, jobs: jobs.length }));
    }
    if (patch.progress !== undefined && patch.status === undefined) events.push(event(id, 'polled', { progress: patch.progress }));
    if (patch.status === 'succeeded') {
      const images = Array.isArray((patch.result as { data?: unknown[] } | null | undefined)?.data) ? (patch.result as { data: unknown[] }).data.length : 0;
      events.push(event(id, 'stored', { images }), event(id, 'succeeded'));
    } else if (patch.status === 'failed') {
      events.push(event(id, 'failed', { code: patch.error?.code ?? null, message: patch.error?.message ?? null }));
    } else if (patch.status === 'queued') {
      events.push(event(id, 'queued', { requeued: true }));
    }
    return events;
  };
  return { event, created, updated };
}

/**
 * The same timeline for the writes the task ledger makes (a submission, a success) outside the task
 * store: their events go into the ledger's own transaction, so they are written exactly when the
 * write they describe is, without a commit of their own.
 */
export function withLedgerTimeline(ledger: TaskLedger, options: Pick<TaskTimelineOptions, 'clock'>): TaskLedger {
  const { created, updated } = timelineEvents(options.clock);
  return {
    createReserved: (task, reservation, _events, queuedAtMost) => ledger.createReserved(task, reservation, created(task), queuedAtMost),
    finishSettled: (taskId, owner, patch, reservation, settlement) => ledger.finishSettled(taskId, owner, patch, reservation, settlement, updated(taskId, patch)),
  };
}

export function withTaskTimeline(store: TaskStore, events: TaskEventStore, options: TaskTimelineOptions): TaskStore {
  const { event, created, updated } = timelineEvents(options.clock);
  // Issued together: one batch (one INSERT, or one group commit), in this order.
  const record = async (list: TaskEvent[]): Promise<void> => void (await Promise.all(list.map((item) => events.record(item).catch(options.onError))));
  const note = (taskId: string, kind: TaskEventKind, detail: Record<string, unknown>, at: number): Promise<void> => record([event(taskId, kind, detail, at)]);

  return {
    async create(task) {
      await store.create(task);
      await record(created(task));
    },
    get: (id) => store.get(id),
    list: (filter) => store.list(filter),
    // The store writes the claim's `started` events with the claim: one commit for both.
    claim: (owner, now, leaseExpiresAt, claimOptions) => store.claim(owner, now, leaseExpiresAt, recordingStarts(claimOptions)),
    claimBatch: (owner, now, leaseExpiresAt, limit, claimOptions) => store.claimBatch(owner, now, leaseExpiresAt, limit, recordingStarts(claimOptions)),
    heartbeat: (id, owner, leaseExpiresAt) => store.heartbeat(id, owner, leaseExpiresAt),
    async update(id, owner, patch) {
      const written = await store.update(id, owner, patch);
      if (written) await record(updated(id, patch));
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
