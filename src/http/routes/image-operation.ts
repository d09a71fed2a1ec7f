// The shared request flow of generations, edits and variations: validate, run, answer as JSON or SSE.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { sizeKeepingShape } from '../../core/sizes.js';
import { GatewayError } from '../../core/errors.js';
import { limitSetByReferences, parseImageRequest, type ImageRequest, type RawImageRequest } from '../../core/image-request.js';
import { checkEditInputs, checkVariationInput, type InputImageLimits, type RawImageInput } from '../../core/image-inputs.js';
import { Readable } from 'node:stream';
import { encodeImagesResponseParts } from '../../core/images-response.js';
import { assertModelAllowed } from '../../core/key-policy.js';
import type { Operation } from '../../core/catalog/types.js';
import { settlementOf } from '../../core/generate-images.js';
import type { ReservationRequest } from '../../core/ports/billing.js';
import { createRequestAbort, type RequestAbort } from '../../core/request-abort.js';
import { formatSize } from '../../core/sizes.js';
import type { HttpDeps } from '../deps.js';
import { onAbandoned } from '../client-gone.js';
import { sendError } from '../errors.js';
import { beginIdempotentRequest, runWithinSyncLimit, submitImageTask, wantsAsync } from '../image-tasks.js';
import { streamImageOperation } from './image-stream.js';

export interface ImageOperationInput {
  fields: RawImageRequest;
  images: RawImageInput[];
  mask: RawImageInput | undefined;
}

/** Absolute base for hosted-result URLs: the configured public URL, else this request's origin. */
export function publicBase(request: FastifyRequest, deps: HttpDeps): string {
  if (deps.settings.publicUrl) return deps.settings.publicUrl;
  const forwardedProto = request.headers['x-forwarded-proto'];
  const protocol = typeof forwardedProto === 'string' ? forwardedProto.split(',')[0]?.trim() || request.protocol : request.protocol;
  return `${protocol}://${request.host}`;
}

/** Warnings travel in one header; keep it printable ASCII and bounded. */
export function warningHeader(warnings: string[]): Record<string, string> {
  if (warnings.length === 0) return {};
  const text = warnings.join('; ').replace(/[^\x20-\x7e]/g, '?');
  return { 'x-imagegate-warnings': text.length > 4000 ? `${text.slice(0, 3997)}...` : text };
}

async function attachImages(operation: Operation, request: ImageRequest, input: ImageOperationInput, limits: InputImageLimits): Promise<void> {
  if (operation === 'edit') {
    const checked = await checkEditInputs(request.model, input.images, input.mask, limits);
    request.images = checked.images;
    request.mask = checked.mask;
    if (request.imageSet === true) limitSetByReferences(request);
    // No size asked for: the edit keeps the (first) input image's shape, not the model's square default.
    const first = request.images[0];
    if (request.sizeGiven === false && first !== undefined) {
      const kept = sizeKeepingShape(request.model, first);
      request.size = kept.size;
      request.aspectRatio = kept.aspectRatio;
      request.warnings.push(...kept.warnings);
    }
  } else if (operation === 'variation') {
    if (input.images.length > 1) throw new GatewayError('invalid_value', 'Variations take exactly one image.', { param: 'image' });
    request.images = [await checkVariationInput(input.images[0], request.model, limits)];
  }
}

/** The request's one abort controller, aborted when the client goes away before the answer is complete. */
function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): RequestAbort {
  const abort = createRequestAbort();
  const gone = (): void => abort.clientGone(new GatewayError('server_error', 'The client closed the connection.'));
  onAbandoned(reply, gone);
  request.raw.on('aborted', gone);
  return abort;
}

export async function handleImageOperation(
  operation: Operation,
  input: ImageOperationInput,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
): Promise<unknown> {
  const context = request.imagegate;
  const base = publicBase(request, deps);
  // Most requests carry no Idempotency-Key: they skip building its fingerprint's parts and an await.
  if (request.headers['idempotency-key'] !== undefined) {
    const idempotencyParts = { operation, fields: input.fields, images: input.images.map((image) => image.data), mask: input.mask?.data ?? null };
    if (await beginIdempotentRequest(request, reply, deps, idempotencyParts, base)) return reply;
  }
  // Logged as sent until validation resolves it, so a rejected request still says what was asked for.
  if (typeof input.fields.model === 'string') context.model = input.fields.model.slice(0, 200);
  const imageRequest = parseImageRequest(deps.catalog, operation, input.fields);
  context.model = imageRequest.model.id;
  context.imagesRequested = imageRequest.n;
  context.size = formatSize(imageRequest.size);
  context.details = { prompt: imageRequest.prompt.slice(0, 1000), parameters: loggedParameters(input.fields), warnings: imageRequest.warnings };
  assertModelAllowed(context.key, imageRequest.model.id, imageRequest.requestedModel);
  await attachImages(operation, imageRequest, input, { maxInputPixels: deps.settings.maxInputPixels });
  context.size = formatSize(imageRequest.size);
  context.imagesRequested = imageRequest.n;

  const route = deps.describeRoute(imageRequest.model.id);
  // Refused before anything is reserved or queued: no channel of this gateway serves the model.
  if (!route.routed) {
    throw new GatewayError('model_not_available', `The model '${imageRequest.requestedModel}' is not available on this gateway: no channel serves it.`, { param: 'model' });
  }
  context.provider = route.provider;
  context.channel = route.channel;
  const key = context.key;
  if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
  const rateLimitHeaders = await deps.rateLimiter.consume(key, imageRequest.n);
  reply.headers(rateLimitHeaders);
  // The slot is held until the response is over, however it ends (sent, failed, or the client left).
  reply.raw.once('close', await deps.rateLimiter.enter(key));
  if (wantsAsync(request, input.fields)) {
    const reservation = (taskId: string) => reservationFor(taskId, key.id, imageRequest, route.servedAs);
    return submitImageTask(imageRequest, input.fields, request, reply, deps, { base, reservation });
  }

  const abort = abortOnDisconnect(request, reply);
  const reservationId = request.id;
  const reservation = { keyId: key.id, reservationId };
  await deps.billing.reserve(reservationFor(reservationId, key.id, imageRequest, route.servedAs));

  if (imageRequest.stream) {
    return streamImageOperation({
      imageRequest,
      request,
      reply,
      deps,
      signal: abort.signal,
      headers: { 'x-imagegate-provider': route.provider, 'x-request-id': request.id, ...warningHeader(imageRequest.warnings) },
      settle: (outcome) => deps.billing.settle(reservation, settlementOf(outcome)),
      release: () => deps.billing.release(reservation),
    });
  }

  // Settled or released inside; past the synchronous time limit it throws the 504 naming the task the work became.
  const generationStarted = performance.now();
  const outcome = await runWithinSyncLimit(imageRequest, input.fields, request, deps, { abort, reservationId, base });
  context.imagesDelivered = outcome.images.length;
  const imageKeys = outcome.images.flatMap((image) => (image.blobKey === undefined ? [] : [image.blobKey]));
  // Added to the request's details object, not spread and extended (docs/architecture.md: no hidden class per request).
  context.details = Object.assign(context.details ?? {}, {
    warnings: outcome.warnings,
    imageKeys,
    generationMs: Math.round(performance.now() - generationStarted),
  });
  context.provider = outcome.provider;
  context.channel = outcome.channel;
  // Bytes, not an object: megabytes of base64 skip JSON.stringify (see encodeImagesResponse).
  const urlFor = await deps.links.urlsFor(imageKeys, base);
  const parts = encodeImagesResponseParts(outcome, imageRequest, urlFor);
  // x-request-id is set on every answer as it is sent (app.ts).
  reply.header('x-imagegate-provider', outcome.provider);
  if (outcome.warnings.length > 0) reply.headers(warningHeader(outcome.warnings));
  return reply.type('application/json; charset=utf-8').send(responseBody(parts, request, reply));
}

/** Below this a body is joined into one buffer: copying a few kilobytes costs less than a stream. */
const joinBelowBytes = 64 * 1024;

/**
 * The answer's pieces (see encodeImagesResponseParts) as Fastify sends them. A large body goes out as
 * its pieces one after the other, with its length declared, so a relayed 2 MB base64 is written to the
 * socket from the upstream's own buffer instead of being copied into a fresh 2 MB one (whose
 * allocation, page faults and collection cost more than the copy). The idempotency capture reads a
 * body as one buffer, so a request it records gets the joined buffer (b64_json under an
 * Idempotency-Key is stored, not relayed, so this is the rare case).
 */
function responseBody(parts: Buffer[], request: FastifyRequest, reply: FastifyReply): Buffer | Readable {
  const [only] = parts;
  if (parts.length === 1 && only !== undefined) return only;
  let length = 0;
  for (const part of parts) length += part.length;
  if (length < joinBelowBytes || request.idempotency !== null) return Buffer.concat(parts, length);
  // Without it Fastify would send a stream chunked; the length is known.
  reply.header('content-length', String(length));
  return new Readable({
    read() {
      for (const part of parts) this.push(part);
      this.push(null);
    },
  });
}

/** The request's scalar fields for the request log: no prompt (kept apart), no images, no secrets, bounded. */
function loggedParameters(fields: RawImageRequest): Record<string, unknown> {
  const parameters: Record<string, unknown> = {};
  // The first 40 fields, walked with for…in over own keys: no array of pairs and its slice per request.
  let seen = 0;
  for (const name in fields) {
    if (!Object.hasOwn(fields, name)) continue;
    if (seen++ >= 40) break;
    const value = fields[name];
    if (name === 'prompt' || name === 'webhook_secret' || name === 'image' || name === 'mask') continue;
    if (typeof value === 'string') parameters[name] = value.slice(0, 200);
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null) parameters[name] = value;
  }
  return parameters;
}

/**
 * The reservation of a request, priced as the model that will serve it: `servedAs` is the successor
 * a retired model is served by on its first-choice channel (docs/billing.md, "Retired models").
 */
export function reservationFor(reservationId: string, keyId: string, imageRequest: ImageRequest, servedAs?: string): ReservationRequest {
  return {
    reservationId,
    keyId,
    model: servedAs ?? imageRequest.model.id,
    operation: imageRequest.operation,
    imagesRequested: imageRequest.n,
    size: formatSize(imageRequest.size),
    quality: imageRequest.quality,
    promptCharacters: imageRequest.prompt.length,
    inputImages: imageRequest.images.length,
    inputImageSizes: [...imageRequest.images, ...(imageRequest.mask ? [imageRequest.mask] : [])].map(({ width, height }) => ({ width, height })),
  };
}

export { sendError };
