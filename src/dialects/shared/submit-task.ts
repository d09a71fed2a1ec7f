// What every API dialect does with a request once it has translated it into the gateway's own
// fields: validate it against the model's catalog entry, check the key may use the model, count it
// against the key's limits, and submit it as a durable task reserved under the task id — the same
// path as an OpenAI `async` request, so prices, quotas, restarts and webhooks behave the same.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { checkEditInputs } from '../../core/image-inputs.js';
import { parseImageRequest, type DialectContext, type ImageRequest, type RawImageRequest } from '../../core/image-request.js';
import { assertModelAllowed } from '../../core/key-policy.js';
import type { ReservationRequest } from '../../core/ports/billing.js';
import type { ApiKeyRecord } from '../../core/ports/key-store.js';
import type { TaskRecord } from '../../core/ports/task-store.js';
import { formatSize } from '../../core/sizes.js';
import type { HttpDeps } from '../../http/deps.js';
import { toGatewayError } from '../../http/errors.js';
import { fetchImageReferences } from '../../http/image-body.js';
import { publicBase, reservationFor } from '../../http/routes/image-operation.js';
import { newTaskId, type TaskCallback } from '../../tasks/task-service.js';
import type { ResultRenderer } from '../../tasks/stored-result.js';

export interface DialectSubmission {
  /** The gateway's own request fields (model, prompt, size or aspect_ratio, output_format, seed, n, provider options). */
  fields: RawImageRequest;
  /** Input images as URLs or data: URLs; present means an edit. */
  images: Array<{ url: string; field: string }>;
  dialect: DialectContext;
  callback?: TaskCallback;
  /**
   * Priced as this price-book entry, once per task, instead of per image of the model (midjourney-proxy's
   * actions: `mj_imagine`, `mj_upscale` … as relays price them).
   */
  pricedAs?: string;
  /** Served by this channel only (a follow-up on an upstream task goes to the account that holds it). */
  channel?: string;
}

export function keyOf(request: FastifyRequest): ApiKeyRecord {
  const key = request.imagegate.key;
  if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
  return key;
}

/** A bare base64 string (BFL's and Midjourney's input images) as a data: URL; URLs stay as they are. */
export function asImageReference(value: string): string {
  if (/^(https?:|data:)/i.test(value)) return value;
  return `data:application/octet-stream;base64,${value.replace(/\s+/g, '')}`;
}

/** Validates the translated request, then stores it as a queued task; answers the task. */
export async function submitDialectTask(request: FastifyRequest, reply: FastifyReply, deps: HttpDeps, submission: DialectSubmission): Promise<{ task: TaskRecord; imageRequest: ImageRequest }> {
  const context = request.imagegate;
  const key = keyOf(request);
  const operation = submission.images.length > 0 ? 'edit' : 'generate';
  if (typeof submission.fields.model === 'string') context.model = submission.fields.model.slice(0, 200);
  const imageRequest = parseImageRequest(deps.catalog, operation, submission.fields);
  context.model = imageRequest.model.id;
  context.imagesRequested = imageRequest.n;
  context.size = formatSize(imageRequest.size);
  assertModelAllowed(key, imageRequest.model.id, imageRequest.requestedModel);
  if (operation === 'edit') {
    const loaded = await fetchImageReferences({ images: submission.images.map((image) => image.url) }, deps.userUrls, deps.settings.maxImageBytes, AbortSignal.timeout(60_000));
    const inputs = loaded.images.map((image, index) => ({ ...image, field: submission.images[index]?.field ?? 'image' }));
    imageRequest.images = (await checkEditInputs(imageRequest.model, inputs, undefined)).images;
  }
  imageRequest.dialect = submission.dialect;
  if (submission.channel !== undefined) imageRequest.channel = submission.channel;

  const route = deps.describeRoute(imageRequest.model.id);
  context.provider = route.provider;
  context.channel = route.channel;
  reply.headers(await deps.rateLimiter.consume(key, imageRequest.n));
  reply.raw.once('close', await deps.rateLimiter.enter(key));
  const taskId = newTaskId();
  const task = await deps.tasks.submit({
    taskId,
    request: imageRequest,
    keyId: key.id,
    reservation: submission.pricedAs === undefined ? reservationFor(taskId, key.id, imageRequest) : pricedPerTask(reservationFor(taskId, key.id, imageRequest), submission.pricedAs),
    ...(submission.callback === undefined ? {} : { callback: submission.callback }),
  });
  return { task, imageRequest };
}

/** A reservation for one task priced as a price-book entry of its own (a flat price per task). */
export function pricedPerTask(reservation: ReservationRequest, priceEntry: string): ReservationRequest {
  return { ...reservation, model: priceEntry, imagesRequested: 1 };
}

/** Result URLs against the gateway's public address (or this request's origin), or presigned by the object store. */
export function resultRendererFor(request: FastifyRequest, deps: HttpDeps): ResultRenderer {
  const base = publicBase(request, deps);
  return { urlFor: (blobKey) => deps.links.urlFor(blobKey, base), blobs: deps.blobs };
}

/** Blob keys of a succeeded task's images, in order. */
export function resultBlobKeys(task: TaskRecord): string[] {
  const data = (task.result as { data?: Array<{ blob_key?: unknown }> } | null)?.data ?? [];
  return data.flatMap((item) => (typeof item.blob_key === 'string' ? [item.blob_key] : []));
}

/** The stored request's fields (prompt, seed, size …) of a task, as the gateway validated them. */
export function storedFields(task: TaskRecord): Record<string, unknown> {
  return ((task.request as { fields?: Record<string, unknown> }).fields ?? {}) as Record<string, unknown>;
}

/** Copies a dialect's own key header (BFL `x-key`, midjourney-proxy `mj-api-secret`) to Authorization when none was sent. */
export function acceptKeyHeader(request: FastifyRequest, header: string): void {
  if (request.headers.authorization !== undefined) return;
  const value = request.headers[header];
  if (typeof value === 'string' && value.trim() !== '') request.headers.authorization = `Bearer ${value.trim()}`;
}

/**
 * A dialect's own error handler: the status and headers the gateway's handler would send, the body
 * in the dialect's shape (`shape` receives the OpenAI error object; the dialects keep it beside
 * their own fields so an OpenAI-minded client still finds `error`).
 */
export function setDialectErrorHandler(
  app: FastifyInstance,
  shape: (error: GatewayError) => { status?: number; body: unknown },
): void {
  app.setErrorHandler((failure, request, reply) => {
    const error = toGatewayError(failure);
    if (error.status >= 500) request.log.error({ err: failure, code: error.code }, 'request failed');
    const headers: Record<string, string> = { ...error.headers };
    if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
    request.imagegate.errorCode = error.code;
    const shaped = shape(error);
    return reply
      .code(shaped.status ?? error.status)
      .headers(headers)
      .send(shaped.body);
  });
}
