// Builds the asynchronous side of a gateway from its parts: the task service and its workers, the
// webhook dispatcher, idempotency keys, and the retention sweeper. gateway.ts starts and closes it.

import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { RetentionSettings, TaskSettings, WebhookSettings } from '../config/schema.js';
import type { HttpClient } from '../core/ports/http-client.js';
import type { IdempotencyStore } from '../core/ports/idempotency-store.js';
import type { WebhookStore } from '../core/ports/webhook-store.js';
import type { ResultLinks } from '../core/result-links.js';
import type { RequestLog } from '../core/ports/request-log.js';
import { createIdempotencyService, type IdempotencyService } from '../idempotency/service.js';
import { createWebhookDispatcher, type WebhookDispatcher } from '../webhooks/dispatcher.js';
import { deriveWebhookSecret, generateWebhookSecret } from '../webhooks/signing.js';
import { createTaskService, type TaskService, type TaskServiceDeps } from './task-service.js';
import type { DialectRenderers } from './dialect-renderers.js';
import { renderTask } from './task-view.js';

/** The task service's own parts are handed through as they are; the rest builds the services around it. */
export interface AsyncServicesDeps extends Pick<TaskServiceDeps, 'store' | 'images' | 'router' | 'catalog' | 'blobs' | 'billing' | 'ledger' | 'clock'> {
  idempotencyStore: IdempotencyStore;
  webhookStore: WebhookStore;
  dataDir: string;
  tasks: TaskSettings;
  webhooks: WebhookSettings;
  logger: Logger;
  /** The guarded client of user URLs (src/providers/shared/outbound-policies.ts), for callback URLs. */
  userUrls: HttpClient;
  links: ResultLinks;
  /** Tasks submitted through another API's dialect are delivered to webhooks in that dialect's shape. */
  dialectRenderers?: DialectRenderers;
  /** Request-log rows and usage arithmetic older than their retention are removed by the same sweeper. */
  history?: {
    retention: RetentionSettings;
    requestLog: Pick<RequestLog, 'deleteOlderThan'>;
    usage: { expireDetailOlderThan(cutoffMs: number): Promise<number> };
  };
}

export interface SweepReport {
  tasks: number;
  blobs: number;
  idempotencyKeys: number;
  webhooks: number;
  /** Request-log rows deleted. */
  requestLog: number;
  /** Usage rows whose arithmetic (`detail`) was dropped. */
  usageDetails: number;
}

export interface AsyncServices {
  tasks: TaskService;
  idempotency: IdempotencyService;
  webhooks: WebhookDispatcher;
  /** A webhook secret derived from the gateway's for one scope (a key's Replicate webhooks); see deriveWebhookSecret. */
  scopedWebhookSecret(scope: string): string;
  /** Starts the workers, the webhook deliveries and the retention sweeper. */
  start(): void;
  /** Deletes what is older than the retention period: finished tasks, stored images, expired keys and deliveries. */
  sweep(): Promise<SweepReport>;
  close(): Promise<void>;
}

/** Generated once and kept beside the data, so receivers keep verifying across restarts. */
async function loadWebhookSecret(settings: WebhookSettings, dataDir: string): Promise<string> {
  if (settings.secret) return settings.secret;
  const file = join(dataDir, 'webhook.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    await writeFile(file, generateWebhookSecret(), { mode: 0o600, flag: 'wx' }).catch(() => undefined);
    return (await readFile(file, 'utf8')).trim();
  }
}

export async function createAsyncServices(deps: AsyncServicesDeps): Promise<AsyncServices> {
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const retentionMs = deps.tasks.retentionHours * 60 * 60 * 1000;
  const sweepEveryMs = Math.max(1000, Math.min(10 * 60 * 1000, Math.floor(retentionMs / 4)));

  const webhookSecret = await loadWebhookSecret(deps.webhooks, deps.dataDir);
  const webhooks = createWebhookDispatcher({
    store: deps.webhookStore,
    http: deps.userUrls,
    clock: deps.clock,
    logger: deps.logger,
    secret: webhookSecret,
    maxAttempts: deps.webhooks.maxAttempts,
    retryBaseMs: deps.webhooks.retryBaseMs,
    ...(deps.webhooks.timeoutMs === undefined ? {} : { timeoutMs: deps.webhooks.timeoutMs }),
    owner,
    renderTask: async (taskId, publicBase) => {
      const task = await deps.store.get(taskId);
      if (!task) return undefined;
      const renderer = { urlFor: (blobKey: string) => deps.links.urlFor(blobKey, publicBase), blobs: deps.blobs };
      return (await deps.dialectRenderers?.render(task, renderer)) ?? renderTask(task, renderer);
    },
  });
  const tasks = createTaskService({
    store: deps.store,
    images: deps.images,
    router: deps.router,
    catalog: deps.catalog,
    blobs: deps.blobs,
    billing: deps.billing,
    ledger: deps.ledger,
    clock: deps.clock,
    logger: deps.logger,
    webhooks,
    settings: deps.tasks,
    owner,
  });
  const idempotency = createIdempotencyService({
    store: deps.idempotencyStore,
    clock: deps.clock,
    owner,
    // A synchronous request holds its key at most until the time limit hands it over.
    lockMs: deps.tasks.syncTimeoutMs + 60_000,
  });

  let sweeper: NodeJS.Timeout | undefined;
  let sweeping: Promise<unknown> = Promise.resolve();

  async function sweep(): Promise<SweepReport> {
    const cutoff = deps.clock.now() - retentionMs;
    const removedTasks = await deps.store.deleteOlderThan(cutoff);
    const blobs = await deps.blobs.deleteOlderThan(cutoff);
    const idempotencyKeys = await idempotency.sweep();
    const removedWebhooks = await deps.webhookStore.deleteOlderThan(cutoff);
    const history = deps.history;
    const day = 24 * 60 * 60 * 1000;
    const requestLog = history === undefined ? 0 : await history.requestLog.deleteOlderThan(deps.clock.now() - history.retention.requestLogDays * day);
    const usageDetails = history === undefined ? 0 : await history.usage.expireDetailOlderThan(deps.clock.now() - history.retention.usageDetailDays * day);
    return { tasks: removedTasks, blobs, idempotencyKeys, webhooks: removedWebhooks, requestLog, usageDetails };
  }

  return {
    tasks,
    idempotency,
    webhooks,
    scopedWebhookSecret: (scope) => deriveWebhookSecret(webhookSecret, scope),
    sweep,
    start() {
      tasks.start();
      webhooks.start();
      const run = (): void => {
        sweeping = sweep().catch((error: unknown) => deps.logger.error({ err: error }, 'retention sweep failed'));
      };
      run();
      sweeper = setInterval(run, sweepEveryMs);
      sweeper.unref();
    },
    async close() {
      clearInterval(sweeper);
      await sweeping;
      await tasks.close();
      await webhooks.close();
    },
  };
}
