// Reads OpenAI's image event stream (`stream: true` with `partial_images`): relays each
// `*.partial_image` as it arrives and gathers the `*.completed` images, usage and any `error` event.

import type { GatewayError } from '../../core/errors.js';
import type { ImageUsage, PartialImage, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import { createSseParser, type SseMessage } from '../shared/sse.js';
import { invalidUpstreamResponse } from '../shared/upstream-errors.js';
import { readUsage } from '../shared/images-response.js';
import { errorFromImagesResponse, type ModerationClassifier } from './wire.js';

export interface ImageStreamReaderOptions {
  provider: string;
  model: string;
  /** Images asked for in this call. */
  requested: number;
  onPartialImage: (image: PartialImage) => void;
  classifyModeration: ModerationClassifier;
  secrets: string[];
}

export interface ImageStreamResult {
  images: ProviderImage[];
  warnings: ProviderWarning[];
  usage?: ImageUsage;
}

export interface ImageStreamReader {
  /** `headers` are the response's, kept for error causes (the upstream request id). */
  push(chunk: Buffer, headers: Record<string, string>): void;
  /** Ends the stream: the images, or the error the stream reported (or that it ended without an image). */
  finish(): ImageStreamResult;
}

/**
 * The events carry no image index: OpenAI sends each image's partials and then its `completed`, one
 * image after another, so partials belong to the image after the last completed one.
 */
export function createImageStreamReader(options: ImageStreamReaderOptions): ImageStreamReader {
  const images: ProviderImage[] = [];
  const usages: ImageUsage[] = [];
  let failure: GatewayError | undefined;
  let responseHeaders: Record<string, string> = {};

  function handle(message: SseMessage): void {
    if (failure !== undefined) return;
    if (message.data === '[DONE]') return;
    let payload: unknown;
    try {
      payload = JSON.parse(message.data);
    } catch {
      failure = invalidUpstreamResponse(options.provider, 'an event of the image stream is not JSON');
      return;
    }
    if (!isRecord(payload)) {
      failure = invalidUpstreamResponse(options.provider, 'an event of the image stream is not an object');
      return;
    }
    const type = typeof payload['type'] === 'string' ? payload['type'] : message.event;
    // As the openai SDK reads streams: an `error` event, or any event carrying `error`, is a failure.
    if (message.event === 'error' || type === 'error' || (payload['error'] !== undefined && payload['error'] !== null)) {
      failure = errorFromStreamEvent(payload);
      return;
    }
    if (type?.endsWith('.partial_image')) {
      const data = decodeImage(payload['b64_json']);
      const partialImageIndex = payload['partial_image_index'];
      if (data === undefined || typeof partialImageIndex !== 'number' || !Number.isInteger(partialImageIndex) || partialImageIndex < 0) {
        failure = invalidUpstreamResponse(options.provider, 'a partial_image event lacks b64_json or partial_image_index');
        return;
      }
      // Previews beyond the images asked for would have no image to belong to.
      if (images.length < options.requested) options.onPartialImage({ index: images.length, partialImageIndex, data });
      return;
    }
    if (type?.endsWith('.completed')) {
      const data = decodeImage(payload['b64_json']);
      if (data === undefined) {
        failure = invalidUpstreamResponse(options.provider, 'a completed event has no b64_json image');
        return;
      }
      if (images.length < options.requested) images.push({ kind: 'bytes', data, ...mediaTypeOf(payload['output_format']) });
      const usage = readUsage(payload['usage']);
      if (usage !== undefined) usages.push(usage);
    }
    // Other event types (future additions) carry nothing this call needs.
  }

  function errorFromStreamEvent(payload: Record<string, unknown>): GatewayError {
    const error = isRecord(payload['error']) ? payload['error'] : payload;
    // The stream had already answered 200; the error's own type says what the status would have been.
    const body = Buffer.from(JSON.stringify({ error }));
    return errorFromImagesResponse({
      provider: options.provider,
      model: options.model,
      response: { status: statusOfStreamError(error), headers: responseHeaders, body, url: '' },
      secrets: options.secrets,
      classifyModeration: options.classifyModeration,
    });
  }

  const parser = createSseParser(handle);
  return {
    push(chunk, headers) {
      responseHeaders = headers;
      parser.push(chunk);
    },
    finish() {
      parser.end();
      if (failure !== undefined) throw failure;
      if (images.length === 0) throw invalidUpstreamResponse(options.provider, 'the image stream ended without a completed image');
      const warnings: ProviderWarning[] = [];
      if (images.length < options.requested) {
        warnings.push({ type: 'other', param: 'n', message: `${options.provider} returned ${images.length} of the ${options.requested} images asked for.` });
      }
      const usage = usages.length === 0 ? undefined : usages.reduce(combineUsage);
      return { images, warnings, ...(usage === undefined ? {} : { usage }) };
    },
  };
}

/** The HTTP status an error event stands for, from its `type` and `code` as OpenAI spells them. */
function statusOfStreamError(error: Record<string, unknown>): number {
  const type = error['type'];
  const code = error['code'];
  if (code === 'rate_limit_exceeded' || type === 'requests' || type === 'tokens') return 429;
  if (code === 'invalid_api_key' || type === 'authentication_error') return 401;
  if (type === 'invalid_request_error' || type === 'image_generation_user_error') return 400;
  if (code === 'moderation_blocked' || code === 'content_policy_violation') return 400;
  return 500;
}

function decodeImage(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const data = Buffer.from(value, 'base64');
  return data.length === 0 ? undefined : data;
}

function mediaTypeOf(format: unknown): { mediaType?: string } {
  if (format === 'png' || format === 'webp' || format === 'jpeg') return { mediaType: `image/${format}` };
  return {};
}

/**
 * With n > 1 every completed event reports usage: the prompt and input images are read once per call
 * (each event repeats them), while every image is its own output. So inputs are the largest seen, outputs add up.
 */
function combineUsage(total: ImageUsage, usage: ImageUsage): ImageUsage {
  return {
    inputTokens: Math.max(total.inputTokens, usage.inputTokens),
    outputTokens: total.outputTokens + usage.outputTokens,
    inputTextTokens: Math.max(total.inputTextTokens ?? 0, usage.inputTextTokens ?? 0),
    inputImageTokens: Math.max(total.inputImageTokens ?? 0, usage.inputImageTokens ?? 0),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
