// Durable asynchronous image tasks: created by the API, claimed by workers under a lease.

import type { OpenAIErrorObject } from '../errors.js';
import type { UpstreamJobRef } from './image-model.js';
import type { TaskEvent } from './task-events.js';

export type TaskStatus = 'queued' | 'in_progress' | 'succeeded' | 'failed' | 'canceled';

export interface TaskRecord {
  id: string;
  keyId: string;
  operation: 'generate' | 'edit' | 'variation';
  model: string;
  status: TaskStatus;
  progress: number;
  /** The validated request, as JSON (blob keys instead of image bytes). */
  request: Record<string, unknown>;
  /** The ImagesResponse body once succeeded. */
  result: Record<string, unknown> | null;
  error: OpenAIErrorObject | null;
  upstreamJob: UpstreamJobRef | null;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  attempts: number;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
}

/** How a worker pool narrows and orders what it claims. */
export interface ClaimOptions {
  /** Skip tasks of these models: their channel already runs as many tasks as this worker pool allows. */
  excludeModels?: readonly string[];
  /**
   * Fair between keys instead of oldest first: the key with the fewest tasks running goes first,
   * then the one this worker pool served least recently, so one key's backlog cannot hold back
   * every other key's work.
   */
  fairness?: {
    /** Keys this pool claimed for, least recently first; a key not listed goes before all of them. */
    recentlyServedKeys: readonly string[];
  };
  /**
   * Write each claimed task's `started` timeline event (detail: attempt, resumed; at: the claim's now)
   * with the claim itself — one commit for both, not two (the timeline asks for it; a bare store's
   * claims write no events).
   */
  recordStarted?: boolean;
}

/** The fields of a task its worker writes (update's patch). */
export type TaskPatch = Partial<Pick<TaskRecord, 'status' | 'progress' | 'result' | 'error' | 'upstreamJob' | 'completedAt' | 'startedAt'>>;

export interface TaskStore {
  create(task: TaskRecord): Promise<void>;
  get(id: string): Promise<TaskRecord | undefined>;
  list(filter: { keyId: string; status?: TaskStatus; limit: number; after?: string }): Promise<TaskRecord[]>;
  /**
   * Atomically takes the oldest claimable task (queued, or in progress with an expired lease; a lease
   * is held while now < leaseExpiresAt and expired from that instant on, as in every lease the gateway keeps)
   * for `owner` until `leaseExpiresAt`. Returns undefined when there is none.
   */
  claim(owner: string, now: number, leaseExpiresAt: number, options?: ClaimOptions): Promise<TaskRecord | undefined>;
  /**
   * Up to `limit` claims at once, in the order that many calls of claim() would make them (with
   * fairness, each claim counting the keys the earlier ones served as most recently served).
   */
  claimBatch(owner: string, now: number, leaseExpiresAt: number, limit: number, options?: ClaimOptions): Promise<TaskRecord[]>;
  /** Extends the lease; false when the lease was lost to another owner. */
  heartbeat(id: string, owner: string, leaseExpiresAt: number): Promise<boolean>;
  /** Updates fields of a task still leased by `owner`; false when the lease was lost. */
  update(id: string, owner: string, patch: TaskPatch): Promise<boolean>;
  /** Cancels a task that has not finished; false when it already had. */
  cancel(id: string, now: number): Promise<boolean>;
  deleteOlderThan(cutoffMs: number): Promise<number>;
}
