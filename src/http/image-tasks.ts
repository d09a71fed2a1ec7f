// The asynchronous side of the image endpoints: `async` submissions (202 + task), the synchronous
// time limit (the work becomes a task and the client gets its id), Idempotency-Key replays, and the
// task object as clients see it.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, errorTable, type ErrorCode } from '../core/errors.js';
import type { GenerationOutcome } from '../core/generate-images.js';
import type { ImageRequest, RawImageRequest } from '../core/image-request.js';
import type { ReservationRequest } from '../core/ports/billing.js';
import type { RequestAbort } from '../core/request-abort.js';
import type { TaskRecord } from '../core/ports/task-store.js';
import { requestFingerprint } from '../idempotency/fingerprint.js';
import { idempotencyKeyOf } from '../idempotency/http.js';
import type { StoredResponse } from '../core/ports/idempotency-store.js';
import { newTaskId, type TaskCallback } from '../tasks/task-service.js';
import { renderTask, type TaskView } from '../tasks/task-view.js';
import { renderStoredResult, toStoredResult, type ResultRenderer } from '../tasks/stored-result.js';
import { mayHaveWebhook } from '../tasks/stored-request.js';
import { checkCallbackUrl } from '../webhooks/callback-url.js';
import { isValidWebhookSecret } from '../webhooks/signing.js';
import type { HttpDeps } from './deps.js';

export const taskPath = (taskId: string): string => `/v1/images/tasks/${taskId}`;

function flag(value: unknown, param: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (value === true || value === 'true' || value === '1') return true;
  if (value === false || value === 'false' || value === '0') return false;
  throw new GatewayError('invalid_value', `'${param}' must be true or false.`, { param });
}

/** `?async=true` on the query string, or `"async": true` in the JSON or multipart body (relay clients use both). */
export function wantsAsync(request: FastifyRequest, fields: RawImageRequest): boolean {
  const query = (request.query ?? {}) as Record<string, unknown>;
  return (flag(query.async, 'async') ?? false) || (flag(fields.async, 'async') ?? false);
}

/** `callback_url` (alias `webhook_url`) and an optional `webhook_secret`, checked before any work. */
export async function callbackOf(fields: RawImageRequest, deps: HttpDeps, base: string): Promise<TaskCallback | undefined> {
  const param = fields.callback_url !== undefined && fields.callback_url !== null ? 'callback_url' : 'webhook_url';
  const value = fields[param];
  if (value === undefined || value === null) {
    if (fields.webhook_secret !== undefined) throw new GatewayError('invalid_value', "'webhook_secret' needs a 'callback_url'.", { param: 'webhook_secret' });
    return undefined;
  }
  const url = await checkCallbackUrl(value, param, deps.userUrls);
  const secret = fields.webhook_secret;
  if (secret === undefined || secret === null) return { url, publicBase: base };
  if (typeof secret !== 'string' || !isValidWebhookSecret(secret)) {
    throw new GatewayError('invalid_value', "'webhook_secret' must be whsec_ followed by base64 (at least 12 bytes).", { param: 'webhook_secret' });
  }
  return { url, secret, publicBase: base };
}

function resultRenderer(deps: HttpDeps, base: string): ResultRenderer {
  return { urlFor: (blobKey) => deps.links.urlFor(blobKey, base), blobs: deps.blobs };
}

export async function renderTaskForClient(task: TaskRecord, deps: HttpDeps, base: string): Promise<TaskView> {
  // Most tasks have no webhook, and say so in their stored request: no webhook-store read for them.
  return renderTask(task, resultRenderer(deps, base), mayHaveWebhook(task.request) ? await deps.webhooks.describe(task.id) : undefined);
}

/** The 504 a synchronous request gets when its work became a task: OpenAI's error shape plus `task_id`. */
export function handedOverError(taskId: string, limitMs: number): GatewayError {
  return new GatewayError(
    'sync_timeout',
    `The image is still being generated: this request passed the gateway's ${Math.round(limitMs / 1000)} s limit for synchronous requests, ` +
      `so the work goes on as task ${taskId}. Fetch the result with GET ${taskPath(taskId)} (it is not charged again).`,
    { details: { task_id: taskId }, retryable: false },
  );
}

/** POST … ?async=true: validated like the synchronous request, stored, reserved under the task id, answered 202. */
export async function submitImageTask(
  imageRequest: ImageRequest,
  fields: RawImageRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
  options: { base: string; reservation: (taskId: string) => ReservationRequest },
): Promise<FastifyReply> {
  const key = request.imagegate.key;
  if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
  if (imageRequest.stream) throw new GatewayError('invalid_value', "'stream' and 'async' cannot be combined: a task is fetched or delivered by webhook when done.", { param: 'stream' });
  const callback = await callbackOf(fields, deps, options.base);
  const taskId = newTaskId();
  const task = await deps.tasks.submit({ taskId, request: imageRequest, keyId: key.id, reservation: options.reservation(taskId), callback });
  const headers = { location: taskPath(task.id), 'x-imagegate-task-id': task.id };
  if (request.idempotency) request.idempotency.replayAs = { kind: 'task', status: 202, headers, task_id: task.id };
  return reply.code(202).headers(headers).send(await renderTaskForClient(task, deps, options.base));
}

/**
 * The synchronous path under the time limit: resolves with the outcome (already settled), or
 * throws the 504 that names the task the still-running work has become.
 */
export async function runWithinSyncLimit(
  imageRequest: ImageRequest,
  fields: RawImageRequest,
  request: FastifyRequest,
  deps: HttpDeps,
  options: { abort: RequestAbort; reservationId: string; base: string },
): Promise<GenerationOutcome> {
  const key = request.imagegate.key;
  if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
  let callback: TaskCallback | undefined;
  try {
    callback = await callbackOf(fields, deps, options.base);
  } catch (error) {
    await deps.billing.release({ keyId: key.id, reservationId: options.reservationId });
    throw error;
  }
  const idempotency = request.idempotency;
  if (idempotency) idempotency.workStarted = true;
  // A replay of b64_json reads the images back from the blob store instead of keeping base64 in the database.
  const persist = idempotency !== null && imageRequest.responseFormat === 'b64_json';
  const result = await deps.tasks.runSync({ request: imageRequest, keyId: key.id, reservationId: options.reservationId, abort: options.abort, persist, callback });
  if (result.kind === 'handed_over') {
    if (idempotency) idempotency.replayAs = { kind: 'handover', status: 504, headers: {}, task_id: result.task.id };
    throw handedOverError(result.task.id, deps.tasks.syncTimeoutMs);
  }
  if (idempotency && persist) idempotency.replayAs = { kind: 'images', status: 200, headers: {}, result: toStoredResult(result.outcome, imageRequest) };
  return result.outcome;
}

function isStreamRequest(fields: RawImageRequest): boolean {
  return fields.stream === true || fields.stream === 'true';
}

/**
 * Idempotency-Key on a POST: answers a replay (returning true: the request is answered), or marks
 * the request as the one that runs. Streams are not replayed: an event stream cannot be repeated
 * faithfully. (A boolean, not the reply: a FastifyReply is thenable, so awaiting one resolves to nothing.)
 */
export async function beginIdempotentRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
  parts: { fields?: RawImageRequest; [part: string]: unknown },
  base: string,
): Promise<boolean> {
  const idempotencyKey = idempotencyKeyOf(request);
  const key = request.imagegate.key;
  if (idempotencyKey === undefined || key === undefined || (parts.fields !== undefined && isStreamRequest(parts.fields))) return false;
  const requestHash = requestFingerprint({ method: request.method, path: request.routeOptions.url ?? request.url.split('?')[0], query: request.query ?? {}, ...parts });
  const begun = await deps.idempotency.begin({ keyId: key.id, idempotencyKey, requestHash });
  if (begun.kind === 'proceed') {
    request.idempotency = { ticket: begun.ticket, workStarted: false, finished: false };
    return false;
  }
  await replayStoredResponse(begun.response, request, reply, deps, base);
  return true;
}

function errorFromObject(error: TaskRecord['error']): GatewayError {
  const code = (error?.code ?? 'server_error') as ErrorCode;
  const known = code in errorTable ? code : 'server_error';
  return new GatewayError(known, error?.message ?? 'The task failed.', { param: error?.param ?? null });
}

async function replayStoredResponse(stored: StoredResponse, request: FastifyRequest, reply: FastifyReply, deps: HttpDeps, base: string): Promise<void> {
  reply.header('idempotent-replayed', 'true');
  const keyId = request.imagegate.key?.id ?? '';
  switch (stored.kind) {
    case 'images':
      reply
        .code(stored.status)
        .headers(stored.headers)
        .send(await renderStoredResult(stored.result as Record<string, unknown>, resultRenderer(deps, base)));
      return;
    case 'task':
    case 'handover': {
      const task = await deps.tasks.get(String(stored.task_id), keyId);
      if (!task) throw new GatewayError('not_found', 'The task this Idempotency-Key created no longer exists (it passed the retention period).');
      if (stored.kind === 'task') {
        reply.code(stored.status).headers(stored.headers).send(await renderTaskForClient(task, deps, base));
        return;
      }
      // A synchronous request that became a task: now the task's answer, or the same 504 while it runs.
      if (task.status === 'succeeded' && task.result !== null) {
        reply.code(200).send(await renderStoredResult(task.result, resultRenderer(deps, base)));
        return;
      }
      if (task.status === 'failed') throw errorFromObject(task.error);
      if (task.status === 'canceled') throw new GatewayError('conflict', `Task ${task.id}, which this request became, was canceled.`);
      throw handedOverError(task.id, deps.tasks.syncTimeoutMs);
    }
    default:
      reply
        .code(stored.status)
        .headers(stored.headers)
        .send(typeof stored.body === 'string' ? stored.body : JSON.stringify(stored.body ?? null));
  }
}
