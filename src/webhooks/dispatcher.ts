// Delivers the final task object to a task's callback URL: signed per Standard Webhooks, sent
// through the SSRF-guarded client, retried with exponential backoff up to a limit, every attempt
// recorded. Deliveries live in the database, so a restart loses none.
//
// The guarantee is at-least-once with a stable `webhook-id`, as Standard Webhooks prescribes
// (receivers deduplicate on webhook-id). A delivery is claimed under a lease before it is sent and
// recorded after the receiver answers; a crash between the receiver's 2xx and that record — which
// no sender can close — leaves the claim to expire, and the delivery is sent again with the same id.
// A delivery recorded as delivered is never sent again.

import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Clock } from '../core/ports/clock.js';
import { HttpClientError, type HttpClient } from '../core/ports/http-client.js';
import { createPollingLoop } from '../tasks/polling-loop.js';
import type { TaskCallback, TaskWebhooks } from '../tasks/task-service.js';
import type { WebhookView } from '../tasks/task-view.js';
import { webhookHeaders } from './signing.js';
import type { AttemptOutcome, WebhookDelivery, WebhookStore } from '../core/ports/webhook-store.js';

export interface WebhookDispatcherDeps {
  store: WebhookStore;
  /** The guarded client: a callback URL is user input like any image URL. */
  http: HttpClient;
  clock: Clock;
  logger: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** The gateway's `whsec_` secret, used when the client gave none. */
  secret: string;
  maxAttempts: number;
  /** Delay before the first retry; each later retry waits twice as long. */
  retryBaseMs: number;
  /** The task object to deliver, its image URLs based on `publicBase`; undefined when the task is gone. */
  renderTask(taskId: string, publicBase: string): Promise<unknown>;
  owner: string;
  /** How often the loop looks for due retries. */
  pollMs?: number;
  /** One attempt's time limit. */
  timeoutMs?: number;
  /** Deliveries in flight at once. */
  concurrency?: number;
}

export interface WebhookDispatcher extends TaskWebhooks {
  describe(taskId: string): Promise<WebhookView | undefined>;
  /** Sends a finished (failed or delivered) delivery once more, now; false when the task has none to retry. */
  retry(taskId: string): Promise<boolean>;
  start(): void;
  close(): Promise<void>;
}

/** No retry is ever scheduled further out than this. */
const maxRetryDelayMs = 6 * 60 * 60 * 1000;
/** A receiver's answer is read but not needed: a small limit keeps a hostile one from costing memory. */
const maxResponseBytes = 256 * 1024;
/** Past an attempt's time limit, what rendering, signing and recording may take. */
const leaseMarginMs = 5_000;

export function createWebhookDispatcher(deps: WebhookDispatcherDeps): WebhookDispatcher {
  const { store, clock, logger } = deps;
  const pollMs = deps.pollMs ?? Math.max(20, Math.min(1000, Math.floor(deps.retryBaseMs / 2)));
  const timeoutMs = deps.timeoutMs ?? 15_000;
  // Long enough for one attempt; a delivery held longer (its process died mid-attempt) is taken again.
  const deliveryLeaseMs = timeoutMs + leaseMarginMs;
  const concurrency = deps.concurrency ?? 8;
  const inFlight = new Set<Promise<void>>();
  const deliveryLoop = createPollingLoop(() => loop());
  const wake = deliveryLoop.wake;

  function retryDelay(attempt: number): number {
    return Math.min(maxRetryDelayMs, deps.retryBaseMs * 2 ** (attempt - 1));
  }

  async function attempt(delivery: WebhookDelivery): Promise<void> {
    const number = delivery.attempts + 1;
    const attemptedAt = clock.now();
    const clockStart = performance.now();
    let statusCode: number | null = null;
    let error: string | null = null;
    let permanent = false;
    const task = await deps.renderTask(delivery.taskId, delivery.publicBase);
    if (task === undefined) {
      error = 'the task no longer exists';
      permanent = true;
    } else {
      const body = JSON.stringify(task);
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'imagegate-webhooks',
        ...webhookHeaders(delivery.secret ?? deps.secret, delivery.id, Math.floor(attemptedAt / 1000), body),
      };
      try {
        const response = await deps.http.request(delivery.url, { method: 'POST', body, headers, timeoutMs, maxBytes: maxResponseBytes });
        statusCode = response.status;
        if (response.status < 200 || response.status >= 300) error = `the receiver answered HTTP ${response.status}`;
        // 410 Gone: the receiver says the endpoint no longer exists (Standard Webhooks).
        if (response.status === 410) permanent = true;
      } catch (failure) {
        if (failure instanceof HttpClientError) {
          error = `${failure.reason}: ${failure.message}`;
          // Refused by the SSRF guard or not a URL: no later attempt fares better.
          permanent = failure.reason === 'blocked_address' || failure.reason === 'invalid_url';
        } else {
          error = 'the request failed';
        }
      }
    }
    const delivered = error === null;
    const now = clock.now();
    const outcome: AttemptOutcome = delivered
      ? { state: 'delivered', completedAt: now }
      : permanent || number >= deps.maxAttempts
        ? { state: 'failed', completedAt: now }
        : { state: 'pending', nextAttemptAt: now + retryDelay(number) };
    const recorded = await store.recordAttempt(
      delivery.id,
      deps.owner,
      { attempt: number, attemptedAt, statusCode, error, durationMs: Math.round(performance.now() - clockStart) },
      outcome,
    );
    if (!recorded) logger.warn({ deliveryId: delivery.id }, 'webhook delivery was taken by another worker before its attempt was recorded');
    else if (outcome.state === 'failed') logger.warn({ taskId: delivery.taskId, attempts: number, error }, 'webhook delivery failed for good');
  }

  async function loop(): Promise<void> {
    // Deliveries a crash left between the end of their task and their activation.
    await store.activateFinished(clock.now()).catch((error: unknown) => logger.error({ err: error }, 'recovering webhook deliveries failed'));
    while (!deliveryLoop.closed) {
      if (inFlight.size < concurrency) {
        let delivery: WebhookDelivery | undefined;
        try {
          const now = clock.now();
          delivery = await store.claimDue(deps.owner, now, now + deliveryLeaseMs);
        } catch (error) {
          if (deliveryLoop.closed) return;
          logger.error({ err: error }, 'claiming a webhook delivery failed');
        }
        if (delivery && !deliveryLoop.closed) {
          const running = attempt(delivery)
            .catch((error: unknown) => logger.error({ err: error, deliveryId: delivery.id }, 'webhook attempt failed unexpectedly'))
            .finally(() => {
              inFlight.delete(running);
              wake();
            });
          inFlight.add(running);
          continue;
        }
      }
      await deliveryLoop.idle(pollMs);
    }
  }

  return {
    async register(taskId: string, callback: TaskCallback) {
      await store.register({
        id: `msg_${randomUUID().replaceAll('-', '')}`,
        taskId,
        url: callback.url,
        secret: callback.secret ?? null,
        publicBase: callback.publicBase,
        createdAt: clock.now(),
      });
    },

    unregister: (taskId) => store.remove(taskId),

    taskFinished(taskId) {
      void store
        .activate(taskId, clock.now())
        .then((activated) => {
          if (activated) wake();
        })
        .catch((error: unknown) => logger.error({ err: error, taskId }, 'activating a webhook delivery failed'));
    },

    async retry(taskId) {
      const retried = await store.retry(taskId, clock.now());
      if (retried) wake();
      return retried;
    },

    async describe(taskId) {
      const found = await store.forTask(taskId);
      if (!found) return undefined;
      const { delivery, attempts } = found;
      return {
        url: delivery.url,
        status: delivery.state === 'delivered' || delivery.state === 'failed' ? delivery.state : 'pending',
        attempts: attempts.map((item) => ({
          attempt: item.attempt,
          attempted_at: Math.floor(item.attemptedAt / 1000),
          status_code: item.statusCode,
          error: item.error,
        })),
      };
    },

    start() {
      deliveryLoop.start();
    },

    async close() {
      await deliveryLoop.close();
      await Promise.all([...inFlight]);
    },
  };
}
