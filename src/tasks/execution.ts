// One task being worked on by this process: its lease kept alive by heartbeats, its writes
// serialised and fenced by the lease, and its upstream jobs and progress recorded as they come.

import type { Logger } from 'pino';
import { GatewayError } from '../core/errors.js';
import type { Clock } from '../core/ports/clock.js';
import type { UpstreamJobRef } from '../core/ports/image-model.js';
import type { TaskStore } from '../core/ports/task-store.js';
import { SignalController } from '../core/signal-controller.js';
import { packJobs } from './upstream-jobs.js';

export type TaskLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

type TaskPatch = Parameters<TaskStore['update']>[2];

export interface ExecutionDeps {
  store: TaskStore;
  clock: Clock;
  owner: string;
  leaseMs: number;
  logger: TaskLogger;
  /** Called once when the lease turns out to be gone: canceled by a client, or taken over by another worker. */
  onLost(execution: TaskExecution, canceled: boolean): void;
}

/** Progress is advisory: written at most this often, the latest value winning. */
const progressWriteDelayMs = 250;

export class TaskExecution {
  readonly taskId: string;
  /** Aborted only on cancel: a lost lease or a shutdown detaches without aborting, since aborting cancels upstream jobs someone else will resume. */
  // Not an AbortController: made once per task, Node's signals slow every scavenge (core/signal-controller.ts).
  readonly controller = new SignalController();
  readonly #deps: ExecutionDeps;
  readonly #jobs: Array<UpstreamJobRef | undefined>;
  #detached = false;
  #writes: Promise<unknown> = Promise.resolve();
  #heartbeat: NodeJS.Timeout | undefined;
  #progress: number;
  #progressTimer: NodeJS.Timeout | undefined;
  /** Until when this process's lease was last written (by the claim, the hand-over or a heartbeat); 0 when unknown. */
  #leaseUntil: number;

  constructor(
    deps: ExecutionDeps,
    taskId: string,
    options: { jobs?: Array<UpstreamJobRef | undefined>; progress?: number; leaseExpiresAt?: number | null } = {},
  ) {
    this.#deps = deps;
    this.taskId = taskId;
    this.#jobs = [...(options.jobs ?? [])];
    this.#progress = options.progress ?? 0;
    this.#leaseUntil = options.leaseExpiresAt ?? 0;
  }

  /** True once this process must no longer write to the task (finished, lost, or shutting down). */
  get detached(): boolean {
    return this.#detached;
  }

  get jobs(): ReadonlyArray<UpstreamJobRef | undefined> {
    return this.#jobs;
  }

  startHeartbeat(): void {
    const every = Math.max(20, Math.floor(this.#deps.leaseMs / 3));
    this.#heartbeat = setInterval(() => void this.#beat(), every);
    this.#heartbeat.unref();
  }

  async #beat(): Promise<void> {
    if (this.#detached) return;
    try {
      const held = await this.#renew();
      if (!held) await this.#lost();
    } catch (error) {
      // A missed beat is not fatal: the lease is three beats long.
      this.#deps.logger.warn({ err: error, taskId: this.taskId }, 'task heartbeat failed');
    }
  }

  async #lost(): Promise<void> {
    if (this.#detached) return;
    this.detach();
    const task = await this.#deps.store.get(this.taskId).catch(() => undefined);
    this.#deps.onLost(this, task?.status === 'canceled');
  }

  detach(): void {
    this.#detached = true;
    clearInterval(this.#heartbeat);
    clearTimeout(this.#progressTimer);
  }

  /**
   * A serialised write fenced by the lease; false (nothing written) once the lease is gone. `through`
   * writes the patch another way that is fenced by the same lease (the task ledger's, which settles
   * the charge in the same transaction).
   */
  write(patch: TaskPatch, through?: (patch: TaskPatch) => Promise<boolean>): Promise<boolean> {
    const next = this.#writes.then(async () => {
      if (this.#detached) return false;
      const written = through === undefined ? await this.#deps.store.update(this.taskId, this.#deps.owner, patch) : await through(patch);
      if (!written) await this.#lost();
      return written;
    });
    this.#writes = next.catch(() => undefined);
    return next;
  }

  /** onUpstreamJob: the job is in the database before the provider polls it, so a restart resumes rather than resubmits. */
  readonly recordJob = async (job: UpstreamJobRef, callIndex: number): Promise<void> => {
    this.#jobs[callIndex] = job;
    const written = await this.write({ upstreamJob: packJobs(this.#jobs) });
    if (!written) {
      // The adapter stops (and cancels its job where it can): whoever holds the task now runs its own.
      throw new GatewayError('server_error', 'This worker no longer holds the task (canceled, or taken over by another worker).', { retryable: false });
    }
  };

  readonly reportProgress = (percent: number): void => {
    // Several calls report their own progress; the task shows the furthest, and 100 only when done.
    const value = Math.min(99, Math.max(this.#progress, Math.round(percent)));
    if (value <= this.#progress || this.#detached) return;
    this.#progress = value;
    if (this.#progressTimer !== undefined) return;
    this.#progressTimer = setTimeout(() => {
      this.#progressTimer = undefined;
      void this.write({ progress: this.#progress }).catch((error: unknown) => this.#deps.logger.warn({ err: error, taskId: this.taskId }, 'task progress write failed'));
    }, progressWriteDelayMs);
    this.#progressTimer.unref();
  };

  get progress(): number {
    return this.#progress;
  }

  /** Extends the lease by its length; false once it is no longer this process's. */
  async #renew(): Promise<boolean> {
    const until = this.#deps.clock.now() + this.#deps.leaseMs;
    const held = await this.#deps.store.heartbeat(this.taskId, this.#deps.owner, until);
    if (held) this.#leaseUntil = until;
    return held;
  }

  /** The last write of this execution (`through`: as in write()). */
  async finish(patch: TaskPatch, through?: (patch: TaskPatch) => Promise<boolean>): Promise<boolean> {
    clearTimeout(this.#progressTimer);
    const written = await this.write(patch, through);
    this.detach();
    return written;
  }

  /** Shutdown: stop writing and let the lease expire now, so another process takes the task at once. */
  async release(): Promise<void> {
    if (this.#detached) return;
    this.detach();
    await this.#writes;
    await this.#deps.store.heartbeat(this.taskId, this.#deps.owner, this.#deps.clock.now()).catch(() => false);
  }
}
