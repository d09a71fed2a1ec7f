// `stream: true` on generations and edits: OpenAI's image event stream. Partial images are relayed
// as the provider renders them, each image ends with its `*.completed` event, and a failure after the
// stream has started becomes an `error` event, which the openai SDK raises as an APIError.

import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GenerationOutcome } from '../../core/generate-images.js';
import type { ImageRequest } from '../../core/image-request.js';
import { renderedQuality, renderImagesResponse, reportedBackground, type ImagesResponseBody } from '../../core/images-response.js';
import { hasAlphaChannel } from '../../images/codec.js';
import type { PartialImage } from '../../core/ports/image-model.js';
import { formatSize } from '../../core/sizes.js';
import type { HttpDeps } from '../deps.js';
import { toGatewayError } from '../errors.js';
import { openSse, type SseWriter } from '../sse.js';

export interface ImageStreamInput {
  imageRequest: ImageRequest;
  request: FastifyRequest;
  reply: FastifyReply;
  deps: HttpDeps;
  /** Aborted when the client goes away: the generation (and its upstream request) stops. */
  signal: AbortSignal;
  /** Response headers besides the SSE ones: request id, provider, warnings. */
  headers: Record<string, string>;
  /** Billing, decided by the caller: settle once with the outcome, or release when generation failed. */
  settle: (outcome: GenerationOutcome) => Promise<void>;
  release: () => Promise<void>;
}

/** `data:` of `*.completed` usage: OpenAI's stream `ImagesUsage`, which has no output_tokens_details. */
type StreamUsage = NonNullable<ImagesResponseBody['usage']>;

/** The fields every event repeats, resolved as OpenAI reports them (never `auto` when known). */
function describedFields(imageRequest: ImageRequest) {
  return {
    size: formatSize(imageRequest.size),
    quality: renderedQuality(imageRequest.quality) ?? 'auto',
    background: imageRequest.background === 'transparent' ? 'transparent' : 'opaque',
    output_format: imageRequest.outputFormat,
  };
}

/**
 * Events carry no image index, so with n > 1 a client tells images apart by order: each image's
 * partials, then its `completed`, one image after the other. The first image's partials go out
 * live; a later image's are held until the images before it have completed.
 */
export async function streamImageOperation(input: ImageStreamInput): Promise<void> {
  const { imageRequest, request, deps, signal } = input;
  const context = request.imagegate;
  const prefix = imageRequest.operation === 'edit' ? 'image_edit' : 'image_generation';
  const described = describedFields(imageRequest);
  const sse = openSse(input.reply, { headers: input.headers, heartbeatMs: deps.settings.streamHeartbeatMs });
  const createdAt = (): number => Math.floor(deps.clock.now() / 1000);

  const sendPartial = (writer: SseWriter, image: PartialImage, created: number): void => {
    writer.event(`${prefix}.partial_image`, {
      type: `${prefix}.partial_image`,
      b64_json: image.data.toString('base64'),
      created_at: created,
      ...described,
      background: reportedBackground(imageRequest.background, [{ hasAlpha: hasAlphaChannel(image.data) }]),
      partial_image_index: image.partialImageIndex,
    });
  };
  const held = new Map<number, Array<{ image: PartialImage; created: number }>>();
  let generating = true;
  const onPartialImage = (image: PartialImage): void => {
    // A provider still finishing a split call after the outcome was decided has nothing to add.
    if (!generating) return;
    if (image.index === 0) {
      sendPartial(sse, image, createdAt());
      return;
    }
    const queue = held.get(image.index) ?? [];
    queue.push({ image, created: createdAt() });
    held.set(image.index, queue);
  };

  try {
    let outcome;
    try {
      // Streams deliver base64 in the events; nothing needs storing for a URL.
      outcome = await deps.images.run(
        { ...imageRequest, responseFormat: 'b64_json' },
        { signal, ...(imageRequest.partialImages > 0 ? { onPartialImage } : {}) },
      );
    } catch (error) {
      await input.release();
      throw error;
    } finally {
      generating = false;
    }
    context.imagesDelivered = outcome.images.length;
    context.provider = outcome.provider;
    context.channel = outcome.channel;
    await input.settle(outcome);

    const rendered = renderImagesResponse(outcome, { ...imageRequest, responseFormat: 'b64_json' }, () => '');
    const usages = splitUsage(rendered.usage, rendered.data.length);
    rendered.data.forEach((item, index) => {
      for (const { image, created } of (held.get(index) ?? []).sort((a, b) => a.image.partialImageIndex - b.image.partialImageIndex)) {
        sendPartial(sse, image, created);
      }
      const usage = usages[index];
      sse.event(`${prefix}.completed`, {
        type: `${prefix}.completed`,
        b64_json: item.b64_json,
        created_at: outcome.createdAt,
        ...described,
        background: reportedBackground(imageRequest.background, outcome.images.slice(index, index + 1)),
        ...(usage === undefined ? {} : { usage }),
      });
    });
  } catch (error) {
    const gatewayError = toGatewayError(error);
    context.errorCode = gatewayError.code;
    if (gatewayError.status >= 500) request.log.error({ err: error, code: gatewayError.code }, 'image stream failed');
    // A client that went away reads nothing more; anyone still listening learns why the stream ends.
    if (!signal.aborted) sse.event('error', { type: 'error', error: gatewayError.toBody().error });
  } finally {
    sse.close();
  }
}

/**
 * OpenAI reports usage on every completed event. The call's total is shared out over the images so
 * that a client adding up the events gets exactly the total, never a multiple of it.
 */
export function splitUsage(total: StreamUsage | undefined, images: number): Array<StreamUsage | undefined> {
  if (total === undefined || images <= 0) return Array.from({ length: Math.max(0, images) }, () => undefined);
  const share = (value: number, index: number): number => Math.floor(value / images) + (index === images - 1 ? value % images : 0);
  return Array.from({ length: images }, (_, index) => {
    const inputTokens = share(total.input_tokens, index);
    const outputTokens = share(total.output_tokens, index);
    return {
      total_tokens: inputTokens + outputTokens,
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      input_tokens_details: {
        text_tokens: share(total.input_tokens_details.text_tokens, index),
        image_tokens: share(total.input_tokens_details.image_tokens, index),
      },
    };
  });
}
