// The asynchronous task use case: submit, run (this process's workers claim tasks under a lease and
// resume recorded upstream jobs after a restart), hand over a synchronous request that ran past its
// time limit, cancel, and schedule fairly: a limit per channel, and the least busy key first.

import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Catalog } from '../core/catalog/catalog.js';
import { timeOrderedHex } from '../core/ids.js';
import { GatewayError, isGatewayError, type OpenAIErrorObject } from '../core/errors.js';
import { settlementOf, type GenerationOutcome, type ImageService } from '../core/generate-images.js';
import type { ImageRequest } from '../core/image-request.js';
import type { Billing, ReservationRef, ReservationRequest } from '../core/ports/billing.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { Clock } from '../core/ports/clock.js';
import type { UpstreamJobRef } from '../core/ports/image-model.js';
import type { ModelRouter } from '../core/ports/model-router.js';
import type { TaskLedger } from '../core/ports/task-ledger.js';
import type { TaskRecord, TaskStatus, TaskStore } from '../core/ports/task-store.js';
import { TaskExecution, type TaskLogger } from './execution.js';
import { createPollingLoop } from './polling-loop.js';
import { defaultInputBudgetBytes, InputBudget } from './input-budget.js';
import { discardStoredImages, inputBytesOf, mayHaveWebhook, reservationIdOf, restoreTaskRequest, storeTaskRequest } from './stored-request.js';
import { createSyncDeadlines } from './sync-deadlines.js';
import type { RequestAbort } from '../core/request-abort.js';
import { persistImages, toStoredResult } from './stored-result.js';
import { packJobs, unpackJobs } from './upstream-jobs.js';

/** Where a finished task's webhook goes; implemented by the webhook dispatcher. */
export interface TaskCallback {
  url: string;
  /** The client's own `whsec_` secret, when it sent one. */
  secret?: string;
  /** Base of the image URLs in the delivered task object. */
  publicBase: string;
}

export interface TaskWebhooks {
  register(taskId: string, callback: TaskCallback): Promise<void>;
  unregister(taskId: string): Promise<void>;
  /** The task reached a final status: its webhook is due. */
  taskFinished(taskId: string): void;
}

export interface TaskSettings {
  /** Tasks one channel runs at once in this process. */
  workers: number;
  leaseMs: number;
  /** Queued tasks one key may have before submissions get 429. */
  maxQueued: number;
  syncTimeoutMs: number;
  /** Claims of one task (each restart or takeover is one) before it is failed as poison. */
  maxAttempts?: number;
  /** How often idle workers look for work another process queued or a dead one left. */
  pollMs?: number;
  /** Bytes of input images the running tasks hold at once (input-budget.ts); default 256 MB. */
  maxInputBytes?: number;
}

export interface TaskServiceDeps {
  store: TaskStore;
  images: ImageService;
  router: ModelRouter;
  catalog: Catalog;
  blobs: BlobStore;
  billing: Billing;
  clock: Clock;
  logger: TaskLogger;
  webhooks?: TaskWebhooks;
  /**
   * The billing store's task ledger: a submission (task row and reservation) and a success (final
   * write and charge) each written as one transaction.
   */
  ledger: TaskLedger;
  settings: TaskSettings;
  /** Names this process's leases; unique per process by default. */
  owner?: string;
}

export interface SubmitInput {
  /** From newTaskId(): the caller reserves billing under it before submitting. */
  taskId: string;
  request: ImageRequest;
  keyId: string;
  /** Reserved here, under the task id, so the task is charged once whatever happens to it. */
  reservation: ReservationRequest;
  callback?: TaskCallback;
}

export interface SyncInput {
  request: ImageRequest;
  keyId: string;
  /** Already reserved by the caller; settled or released here (also when the work becomes a task). */
  reservationId: string;
  /** The request's one abort controller: the client leaving stops the work, until the work has become a task. */
  abort: RequestAbort;
  /** Store every image (an idempotent request replays from the blob store). */
  persist: boolean;
  callback?: TaskCallback;
}

export interface FinishedInput {
  taskId: string;
  request: ImageRequest;
  keyId: string;
  /** The stored result (StoredImagesResult: blob keys already in the blob store). */
  result: Record<string, unknown>;
  /** Its price: reserved under the task id, settled once the task is recorded, released if it cannot be. */
  reservation?: ReservationRequest;
  callback?: TaskCallback;
}

export type SyncOutcome = { kind: 'completed'; outcome: GenerationOutcome } | { kind: 'handed_over'; task: TaskRecord };

export type CancelOutcome = { kind: 'not_found' } | { kind: 'canceled'; task: TaskRecord } | { kind: 'already_finished'; task: TaskRecord };

export interface TaskService {
  /** This process's lease owner name. */
  readonly owner: string;
  /** The synchronous time limit after which runSync hands the work over. */
  readonly syncTimeoutMs: number;
  submit(input: SubmitInput): Promise<TaskRecord>;
  runSync(input: SyncInput): Promise<SyncOutcome>;
  /**
   * Records a task that is finished as it is created: work that needs no model (a Midjourney U1–U4
   * hands out an image another task already made), charged its `reservation` if one is given; the webhook is due at once.
   */
  recordFinished(input: FinishedInput): Promise<TaskRecord>;
  /** The task, if it exists and belongs to the key. */
  get(id: string, keyId: string): Promise<TaskRecord | undefined>;
  list(filter: { keyId: string; status?: TaskStatus; limit: number; after?: string }): Promise<TaskRecord[]>;
  cancel(id: string, keyId: string): Promise<CancelOutcome>;
  /** Starts the worker loop. */
  start(): void;
  /** Stops claiming and lets other processes take this one's tasks at once; running work is detached, not canceled. */
  close(): Promise<void>;
}

/**
 * In creation order (see timeOrderedHex), as request ids are: a task's id keys the tasks table, its
 * timeline's (task_id, id) index and its reservation's (key_id, id), which take ordered keys at their
 * right edge instead of dirtying a page of their own per task anywhere in the index.
 */
export const newTaskId = (): string => `task_${timeOrderedHex()}`;

/** Keys remembered for fairness: enough for the busiest moments, small enough for one SQL statement. */
const recentKeysKept = 64;

const finishedStatuses: ReadonlySet<TaskStatus> = new Set(['succeeded', 'failed', 'canceled']);

/** What a failed task shows: exactly an OpenAI error object, nothing internal. */
export function errorObjectOf(error: unknown): OpenAIErrorObject {
  if (isGatewayError(error)) return error.toBody().error;
  return new GatewayError('server_error', 'The server had an error while processing your request.').toBody().error;
}

class CanceledByClient extends Error {
  constructor() {
    super('The task was canceled.');
    this.name = 'CanceledByClient';
  }
}

export function createTaskService(deps: TaskServiceDeps): TaskService {
  const { store, clock, logger, settings } = deps;
  const owner = deps.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const maxAttempts = settings.maxAttempts ?? 5;
  const pollMs = settings.pollMs ?? Math.max(50, Math.min(1000, Math.floor(settings.leaseMs / 4)));

  const running = new Map<string, TaskExecution>();
  /** Keys this pool claimed for, least recently first (a Map keeps insertion order). */
  const servedKeys = new Map<string, true>();
  const runningByChannel = new Map<string, number>();
  const inputBudget = new InputBudget(settings.maxInputBytes ?? defaultInputBudgetBytes);
  const claimLoop = createPollingLoop(() => loop());
  const syncDeadlines = createSyncDeadlines();
  const wake = claimLoop.wake;
  /**
   * The channels the last claim excluded (saturated here) when it found nothing, and when. Until
   * something could change that answer — a task queued here for a channel outside them, or a poll
   * interval passing (another process's work, an expired lease) — a claim excluding exactly these
   * channels again is skipped (a freed slot changes which channels a claim excludes, not what lies
   * outside them). In scenario 4 each claim filled the one channel, and the wakes of submissions that
   * came meanwhile ran claims excluding its model that read every queued row of the key for nothing
   * (0.35 per task, a group-commit unit each).
   */
  let foundNothing: { channels: ReadonlySet<string>; key: string; at: number } | undefined;
  /** Channels of the tasks queued here while a claim was under way (it may not have seen them). */
  let queuedDuringClaim: Set<string | undefined> | undefined;

  const channelOf = (modelId: string): string => deps.router.describe(modelId).channel;
  /**
   * How many tasks of a channel this process runs at once: tasks.workers, or the channel's own
   * max_concurrency when that is lower — more would only wait in the channel's line, ahead of its
   * synchronous requests (and be skipped as busy once the line is full).
   */
  const limitOf = (route: { maxConcurrency?: number }): number => Math.min(settings.workers, route.maxConcurrency ?? settings.workers);

  const countRunning = (channel: string, delta: number): void => {
    runningByChannel.set(channel, (runningByChannel.get(channel) ?? 0) + delta);
  };

  const newExecution = (taskId: string, options: { jobs?: Array<UpstreamJobRef | undefined>; progress?: number; leaseExpiresAt?: number | null } = {}): TaskExecution =>
    new TaskExecution(
      {
        store,
        clock,
        owner,
        leaseMs: settings.leaseMs,
        logger,
        onLost: (execution, canceled) => {
          logger.info({ taskId: execution.taskId, canceled }, canceled ? 'task canceled while running' : 'task lease lost to another worker');
          // Only a cancel stops the work (and its upstream job); a takeover leaves the job to the new holder.
          if (canceled) execution.controller.abort(new CanceledByClient());
        },
      },
      taskId,
      options,
    );

  /** Success: charge once (the lease confirmed just before), then record the result. */
  /** `webhook`: whether the task may have a webhook to activate (see mayHaveWebhook). */
  async function succeed(execution: TaskExecution, request: ImageRequest, reservation: ReservationRef, outcome: GenerationOutcome, webhook: boolean): Promise<void> {
    if (execution.detached) return;
    const stored = toStoredResult(await persistImages(outcome, request, deps.blobs, clock.now()), request);
    // The final write and the charge in one transaction, fenced by the lease: both or neither.
    const written = await execution.finish({ status: 'succeeded', progress: 100, result: stored, error: null, completedAt: clock.now() }, (patch) =>
      deps.ledger.finishSettled(execution.taskId, owner, patch, reservation, settlementOf(outcome)),
    );
    if (written && webhook) deps.webhooks?.taskFinished(execution.taskId);
  }

  async function fail(execution: TaskExecution, reservation: ReservationRef, error: unknown, webhook: boolean): Promise<void> {
    // Canceled, taken over or shutting down: whoever holds the task now decides its end.
    if (execution.detached) return;
    const written = await execution.finish({ status: 'failed', error: errorObjectOf(error), completedAt: clock.now() });
    if (!written) return;
    await deps.billing.release(reservation);
    if (webhook) deps.webhooks?.taskFinished(execution.taskId);
  }

  async function runClaimed(task: TaskRecord): Promise<void> {
    const channel = channelOf(task.model);
    countRunning(channel, 1);
    // The channel's slot bounds upstream work: it is given back once the upstream call has ended, so
    // storing, charging and recording the result never keep the next queued task waiting.
    let holdsSlot = true;
    const freeSlot = (): void => {
      if (!holdsSlot) return;
      holdsSlot = false;
      countRunning(channel, -1);
      wake();
    };
    const execution = newExecution(task.id, { jobs: unpackJobs(task.upstreamJob), progress: task.progress, leaseExpiresAt: task.leaseExpiresAt });
    running.set(task.id, execution);
    execution.startHeartbeat();
    const reservation = { keyId: task.keyId, reservationId: reservationIdOf(task.request, task.id) };
    const webhook = mayHaveWebhook(task.request);
    let releaseInputs: (() => void) | undefined;
    try {
      if (task.attempts > maxAttempts) {
        throw new GatewayError('server_error', `The task was interrupted ${task.attempts - 1} times (its worker stopped each time); it is not tried again.`);
      }
      // The input images are read into memory only once they fit the process's budget, and held until the task ends.
      releaseInputs = await inputBudget.acquire(inputBytesOf(task.request), execution.controller.signal);
      const request = await restoreTaskRequest(task.request, deps.catalog, deps.blobs);
      const outcome = await deps.images
        .run(request, {
          signal: execution.controller.signal,
          persist: true,
          resumeJobs: execution.jobs,
          onUpstreamJob: execution.recordJob,
          onProgress: execution.reportProgress,
        })
        .finally(freeSlot);
      await succeed(execution, request, reservation, outcome, webhook);
    } catch (error) {
      freeSlot();
      await fail(execution, reservation, error, webhook).catch((failure: unknown) => logger.error({ err: failure, taskId: task.id }, 'could not record a task failure'));
    } finally {
      releaseInputs?.();
      execution.detach();
      running.delete(task.id);
      freeSlot();
    }
  }

  /** Tasks claimed in one go at most: one transaction's worth, so a long queue is not all taken by one process. */
  const maxClaimBatch = 32;

  /**
   * As many tasks as every channel can still start (the least free channel's room, so no channel
   * passes its limit whichever models the tasks are of), claimed in one call: on SQLite one unit of
   * the group commit instead of a transaction and an event-loop turn per task.
   */
  async function claimNextBatch(): Promise<{ tasks: TaskRecord[]; full: boolean }> {
    let room = settings.workers;
    const saturated = new Set<string>();
    const excludeModels: string[] = [];
    const models = deps.catalog.list();
    for (const model of models) {
      const route = deps.router.describe(model.id);
      const free = limitOf(route) - (runningByChannel.get(route.channel) ?? 0);
      if (free > 0) {
        room = Math.min(room, free);
      } else {
        saturated.add(route.channel);
        excludeModels.push(model.id);
      }
    }
    if (models.length > 0 && excludeModels.length === models.length) return { tasks: [], full: false };
    const excludedKey = [...saturated].sort().join('\n');
    if (foundNothing !== undefined && foundNothing.key === excludedKey && performance.now() - foundNothing.at < pollMs) return { tasks: [], full: false };
    const now = clock.now();
    const limit = Math.min(maxClaimBatch, room);
    const looked = performance.now();
    const queuedMeanwhile = new Set<string | undefined>();
    queuedDuringClaim = queuedMeanwhile;
    let claimed: TaskRecord[];
    try {
      claimed = await store.claimBatch(owner, now, now + settings.leaseMs, limit, { excludeModels, fairness: { recentlyServedKeys: [...servedKeys.keys()] } });
    } finally {
      queuedDuringClaim = undefined;
    }
    const missed = [...queuedMeanwhile].some((channel) => channel === undefined || !saturated.has(channel));
    if (claimed.length === 0 && !missed) foundNothing = { channels: saturated, key: excludedKey, at: looked };
    // A claim with other exclusions (one that took a task of a channel this answer excluded) leaves it standing.
    else if (foundNothing?.key === excludedKey || missed) foundNothing = undefined;
    for (const task of claimed) {
      servedKeys.delete(task.keyId);
      servedKeys.set(task.keyId, true);
      // Only the order of recent keys matters; an old one dropped simply counts as not served lately.
      if (servedKeys.size > recentKeysKept) servedKeys.delete(servedKeys.keys().next().value as string);
    }
    return { tasks: claimed, full: limit > 0 && claimed.length >= limit };
  }

  /**
   * Whether a task of this model could be claimed now: its channel has a free slot. A submission
   * wakes the claim loop only then — otherwise the claim it caused could not take it (its channel's
   * models are excluded) and only scanned the key's queue for other work, which would have been
   * claimed when it was itself queued or a slot freed; the freed slot's wake claims this one.
   */
  const hasRoomFor = (modelId: string): boolean => {
    try {
      const route = deps.router.describe(modelId);
      return (runningByChannel.get(route.channel) ?? 0) < limitOf(route);
    } catch {
      return true;
    }
  };

  /** A task of this model was queued here: wake the loop if it could take it. */
  const queuedHere = (modelId: string): void => {
    if (!hasRoomFor(modelId)) return;
    let channel: string | undefined;
    try {
      channel = channelOf(modelId);
    } catch {
      channel = undefined;
    }
    // A claim that found nothing excluding these channels could find this task unless its channel is among them.
    if (channel === undefined || !foundNothing?.channels.has(channel)) foundNothing = undefined;
    queuedDuringClaim?.add(channel);
    wake();
  };

  async function loop(): Promise<void> {
    while (!claimLoop.closed) {
      let claimed: TaskRecord[] = [];
      let full = false;
      try {
        ({ tasks: claimed, full } = await claimNextBatch());
      } catch (error) {
        if (claimLoop.closed) return;
        logger.error({ err: error }, 'claiming a task failed');
      }
      if (claimLoop.closed) {
        // Claimed while closing: hand them straight back.
        await Promise.all(claimed.map((task) => store.heartbeat(task.id, owner, clock.now()).catch(() => false)));
        return;
      }
      for (const task of claimed) void runClaimed(task);
      // A full batch may have left work behind: claim again at once. Otherwise everything claimable
      // was taken, and what is queued (or frees a slot) from now on wakes the loop.
      if (full) continue;
      await claimLoop.idle(pollMs);
    }
  }

  async function cancelUpstream(task: TaskRecord, job: UpstreamJobRef): Promise<void> {
    const resolved = deps.catalog.get(task.model);
    if (!resolved) return;
    const resume = job.channel === undefined ? undefined : { channel: job.channel, ...(job.channelKey === undefined ? {} : { key: job.channelKey }) };
    await deps.router.run(resolved.model, { operation: task.operation, images: 1, signal: AbortSignal.timeout(15_000), ...(resume ? { resume } : {}) }, async (route) => {
      if (route.imageModel.provider === job.provider) await route.imageModel.cancel?.(job);
    });
  }

  async function handOver(input: SyncInput, taskId: string, startedAt: number, execution: TaskExecution): Promise<TaskRecord> {
    const now = clock.now();
    const stored = await storeTaskRequest(input.request, { taskId, reservationId: input.reservationId, blobs: deps.blobs, now, callback: input.callback !== undefined });
    if (input.callback) await deps.webhooks?.register(taskId, input.callback);
    const task: TaskRecord = {
      id: taskId,
      keyId: input.keyId,
      operation: input.request.operation,
      model: input.request.model.id,
      status: 'in_progress',
      progress: execution.progress,
      request: stored as unknown as Record<string, unknown>,
      result: null,
      error: null,
      upstreamJob: packJobs(execution.jobs),
      leaseOwner: owner,
      leaseExpiresAt: now + settings.leaseMs,
      attempts: 1,
      createdAt: startedAt,
      startedAt,
      completedAt: null,
    };
    await store.create(task);
    // The task holds the reservation now: whichever process resumes it settles it.
    await deps.billing.handOver({ keyId: input.keyId, reservationId: input.reservationId });
    return task;
  }

  return {
    owner,
    syncTimeoutMs: settings.syncTimeoutMs,

    async submit(input) {
      const now = clock.now();
      const stored = await storeTaskRequest(input.request, { taskId: input.taskId, reservationId: input.taskId, blobs: deps.blobs, now, callback: input.callback !== undefined });
      const task: TaskRecord = {
        id: input.taskId,
        keyId: input.keyId,
        operation: input.request.operation,
        model: input.request.model.id,
        status: 'queued',
        progress: 0,
        request: stored as unknown as Record<string, unknown>,
        result: null,
        error: null,
        upstreamJob: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        attempts: 0,
        createdAt: now,
        startedAt: null,
        completedAt: null,
      };
      try {
        // The webhook first: a task never exists without the delivery its client asked for.
        if (input.callback) await deps.webhooks?.register(input.taskId, input.callback);
        // The reservation, held by the task from the start, and the task row: one transaction, which
        // also holds the key to its queue limit (a count of its own was a round trip per submission).
        await deps.ledger.createReserved(task, input.reservation, undefined, settings.maxQueued);
      } catch (error) {
        if (input.callback) await deps.webhooks?.unregister(input.taskId).catch(() => undefined);
        // A refusal (a full queue, no credit, a reused id) is decided before anything is written, so the
        // task does not exist and its input images are nobody's; after any other error it may exist.
        if (isGatewayError(error)) await discardStoredImages(stored, deps.blobs);
        throw error;
      }
      queuedHere(task.model);
      return task;
    },

    async recordFinished(input) {
      const now = clock.now();
      const stored = await storeTaskRequest(input.request, { taskId: input.taskId, reservationId: input.taskId, blobs: deps.blobs, now, callback: input.callback !== undefined });
      const task: TaskRecord = {
        id: input.taskId,
        keyId: input.keyId,
        operation: input.request.operation,
        model: input.request.model.id,
        status: 'succeeded',
        progress: 100,
        request: stored as unknown as Record<string, unknown>,
        result: input.result,
        error: null,
        upstreamJob: null,
        leaseOwner: null,
        leaseExpiresAt: null,
        attempts: 0,
        createdAt: now,
        startedAt: now,
        completedAt: now,
      };
      if (input.reservation) await deps.billing.reserve(input.reservation);
      try {
        if (input.callback) await deps.webhooks?.register(input.taskId, input.callback);
        await store.create(task);
      } catch (error) {
        if (input.reservation) await deps.billing.release({ keyId: input.keyId, reservationId: input.taskId }).catch(() => undefined);
        if (input.callback) await deps.webhooks?.unregister(input.taskId).catch(() => undefined);
        throw error;
      }
      if (input.reservation) await deps.billing.settle({ keyId: input.keyId, reservationId: input.taskId }, { imagesDelivered: 1 });
      if (input.callback) deps.webhooks?.taskFinished(input.taskId);
      return task;
    },

    async runSync(input) {
      const reservation: ReservationRef = { keyId: input.keyId, reservationId: input.reservationId };
      const work = input.abort;
      const startedAt = clock.now();
      // Jobs and progress seen before a hand-over; the task's execution (and its controller) exists only after one.
      const jobs: Array<UpstreamJobRef | undefined> = [];
      let progress = 0;
      let execution: TaskExecution | undefined;
      let handedOver: Promise<TaskRecord> | undefined;

      const running$ = deps.images.run(input.request, {
        signal: work.signal,
        persist: input.persist,
        onUpstreamJob: async (job, callIndex) => {
          if (handedOver === undefined) {
            jobs[callIndex] = job;
            return;
          }
          await handedOver;
          await execution?.recordJob(job, callIndex);
        },
        onProgress: (percent) => {
          if (execution === undefined) progress = Math.min(99, Math.max(progress, Math.round(percent)));
          else execution.reportProgress(percent);
        },
      });
      // No timer per request: the process's one deadline sweep (./sync-deadlines.ts) ends the wait.
      const first = await syncDeadlines.race(running$, settings.syncTimeoutMs);
      if (first.done) {
        if ('error' in first) {
          await deps.billing.release(reservation);
          throw first.error;
        }
        await deps.billing.settle(reservation, settlementOf(first.outcome));
        return { kind: 'completed', outcome: first.outcome };
      }

      const taskId = newTaskId();
      const taskExecution = newExecution(taskId, { jobs, progress });
      execution = taskExecution;
      // Cancel (once it is a task) aborts the execution's controller, which stops the work.
      const cancel = taskExecution.controller.signal;
      cancel.addEventListener('abort', () => work.abort(cancel.reason), { once: true });
      work.detachFromClient();
      // Past the limit: the work goes on as a task this process holds, and the client is told its id.
      handedOver = handOver(input, taskId, startedAt, taskExecution);
      let task: TaskRecord;
      try {
        task = await handedOver;
      } catch (error) {
        work.abort(error);
        running$.catch(() => undefined);
        await deps.billing.release(reservation);
        throw new GatewayError('server_error', 'The request ran past the synchronous time limit and could not be turned into a task.', { cause: error });
      }
      const channel = channelOf(task.model);
      countRunning(channel, 1);
      running.set(taskId, taskExecution);
      taskExecution.startHeartbeat();
      void running$
        .then(
          (outcome) => succeed(taskExecution, input.request, reservation, outcome, input.callback !== undefined),
          (error: unknown) => fail(taskExecution, reservation, error, input.callback !== undefined),
        )
        .catch((error: unknown) => logger.error({ err: error, taskId }, 'could not record the end of a handed-over request'))
        .finally(() => {
          taskExecution.detach();
          running.delete(taskId);
          countRunning(channel, -1);
          wake();
        });
      return { kind: 'handed_over', task };
    },

    async get(id, keyId) {
      const task = await store.get(id);
      return task !== undefined && task.keyId === keyId ? task : undefined;
    },

    list: (filter) => store.list(filter),

    async cancel(id, keyId) {
      const task = await store.get(id);
      if (task === undefined || task.keyId !== keyId) return { kind: 'not_found' };
      if (finishedStatuses.has(task.status)) return { kind: 'already_finished', task };
      if (!(await store.cancel(id, clock.now()))) {
        const now = await store.get(id);
        return now === undefined ? { kind: 'not_found' } : { kind: 'already_finished', task: now };
      }
      const local = running.get(id);
      if (local) {
        // The provider cancels its own job on abort (where the upstream can).
        local.detach();
        local.controller.abort(new CanceledByClient());
      } else {
        for (const job of unpackJobs(task.upstreamJob)) {
          if (job) await cancelUpstream(task, job).catch((error: unknown) => logger.warn({ err: error, taskId: id }, 'upstream cancel failed'));
        }
      }
      await deps.billing.release({ keyId: task.keyId, reservationId: reservationIdOf(task.request, task.id) });
      if (mayHaveWebhook(task.request)) deps.webhooks?.taskFinished(id);
      const canceled = await store.get(id);
      return { kind: 'canceled', task: canceled ?? { ...task, status: 'canceled' } };
    },

    start() {
      claimLoop.start();
    },

    async close() {
      await claimLoop.close();
      await Promise.all([...running.values()].map((execution) => execution.release()));
    },
  };
}
