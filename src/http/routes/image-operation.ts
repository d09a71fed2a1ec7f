// The shared request flow of generations, edits and variations: validate, run, answer as JSON or SSE.

import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { parseImageRequest, type ImageRequest, type RawImageRequest } from '../../core/image-request.js';
import { checkEditInputs, checkVariationInput, type RawImageInput } from '../../core/image-inputs.js';
import { renderImagesResponse } from '../../core/images-response.js';
import type { Operation } from '../../core/catalog/types.js';
import type { GenerationOutcome } from '../../core/generate-images.js';
import type { ReservationRequest, Settlement } from '../../core/ports/billing.js';
import { formatSize } from '../../core/sizes.js';
import type { HttpDeps } from '../deps.js';
import { sendError, toGatewayError } from '../errors.js';
import { openSse } from '../sse.js';

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

async function attachImages(operation: Operation, request: ImageRequest, input: ImageOperationInput): Promise<void> {
  if (operation === 'edit') {
    const checked = await checkEditInputs(request.model, input.images, input.mask);
    request.images = checked.images;
    request.mask = checked.mask;
  } else if (operation === 'variation') {
    if (input.images.length > 1) throw new GatewayError('invalid_value', 'Variations take exactly one image.', { param: 'image' });
    request.images = [await checkVariationInput(input.images[0])];
  }
}

/** Aborts when the client goes away before the answer is complete. */
function abortOnDisconnect(request: FastifyRequest, reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.on('close', () => {
    if (!reply.raw.writableFinished) controller.abort(new GatewayError('server_error', 'The client closed the connection.'));
  });
  request.raw.on('aborted', () => controller.abort(new GatewayError('server_error', 'The client closed the connection.')));
  return controller;
}

export async function handleImageOperation(
  operation: Operation,
  input: ImageOperationInput,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
): Promise<unknown> {
  const context = request.imagegate;
  const imageRequest = parseImageRequest(deps.catalog, operation, input.fields);
  context.model = imageRequest.model.id;
  context.imagesRequested = imageRequest.n;
  context.size = formatSize(imageRequest.size);
  await attachImages(operation, imageRequest, input);

  const route = deps.describeRoute(imageRequest.model.id);
  context.provider = route.provider;
  context.channel = route.channel;
  const key = context.key;
  if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
  const rateLimitHeaders = await deps.rateLimiter.consume(key, imageRequest.n);
  reply.headers(rateLimitHeaders);

  const controller = abortOnDisconnect(request, reply);
  const baseHeaders = { 'x-imagegate-provider': route.provider, 'x-request-id': request.id };
  const reservationId = request.id;
  await deps.billing.reserve(reservationFor(reservationId, key.id, imageRequest));

  if (imageRequest.stream) return streamImageOperation(imageRequest, request, reply, deps, controller, baseHeaders, reservationId);

  let outcome;
  try {
    outcome = await deps.images.run(imageRequest, { signal: controller.signal });
  } catch (error) {
    await deps.billing.release(reservationId);
    throw error;
  }
  context.imagesDelivered = outcome.images.length;
  context.provider = outcome.provider;
  context.channel = outcome.channel;
  await deps.billing.settle(reservationId, settlementOf(outcome));
  const base = publicBase(request, deps);
  const body = renderImagesResponse(outcome, imageRequest, (blobKey) => base + deps.signer.sign(blobKey).path);
  return reply.headers({ ...baseHeaders, 'x-imagegate-provider': outcome.provider, ...warningHeader(outcome.warnings) }).send(body);
}

export function reservationFor(reservationId: string, keyId: string, imageRequest: ImageRequest): ReservationRequest {
  return {
    reservationId,
    keyId,
    model: imageRequest.model.id,
    operation: imageRequest.operation,
    imagesRequested: imageRequest.n,
    size: formatSize(imageRequest.size),
    quality: imageRequest.quality,
    promptCharacters: imageRequest.prompt.length,
    inputImages: imageRequest.images.length,
  };
}

export function settlementOf(outcome: GenerationOutcome): Settlement {
  return { imagesDelivered: outcome.images.length, usage: outcome.usage, channel: outcome.channel, provider: outcome.provider };
}

/**
 * `stream: true`: OpenAI's event stream. Providers here deliver whole images, so each image is one
 * `*.completed` event (partial images need a provider that renders them progressively).
 */
async function streamImageOperation(
  imageRequest: ImageRequest,
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
  controller: AbortController,
  headers: Record<string, string>,
  reservationId: string,
): Promise<void> {
  const prefix = imageRequest.operation === 'edit' ? 'image_edit' : 'image_generation';
  const sse = openSse(reply, { ...headers, ...warningHeader(imageRequest.warnings) });
  try {
    let outcome;
    try {
      outcome = await deps.images.run(imageRequest, { signal: controller.signal });
    } catch (error) {
      await deps.billing.release(reservationId);
      throw error;
    }
    request.imagegate.imagesDelivered = outcome.images.length;
    await deps.billing.settle(reservationId, settlementOf(outcome));
    const rendered = renderImagesResponse(outcome, { ...imageRequest, responseFormat: 'b64_json' }, () => '');
    for (const item of rendered.data) {
      sse.event(`${prefix}.completed`, {
        type: `${prefix}.completed`,
        b64_json: item.b64_json,
        created_at: rendered.created,
        size: formatSize(imageRequest.size),
        quality: imageRequest.quality ?? 'auto',
        background: imageRequest.background === 'transparent' ? 'transparent' : 'opaque',
        output_format: imageRequest.outputFormat,
        ...(rendered.usage ? { usage: rendered.usage } : {}),
      });
    }
  } catch (error) {
    const gatewayError = toGatewayError(error);
    request.imagegate.errorCode = gatewayError.code;
    if (!controller.signal.aborted) sse.event('error', { type: 'error', error: gatewayError.toBody().error });
  } finally {
    sse.close();
  }
}

export { sendError };
