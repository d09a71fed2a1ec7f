// The ImageModel for OpenAI-style Images endpoints, parameterised by where and how to call them, so
// the openai adapter and the azure adapter (deployment URLs, api-key header) share one implementation.

import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation } from '../../core/ports/image-model.js';
import type { HttpClient, HttpRequestOptions } from '../shared/types.js';
import { parseImagesResponse } from '../shared/images-response.js';
import { errorFromTransportFailure } from '../shared/upstream-errors.js';
import { createImageStreamReader, type ImageStreamReader } from './stream.js';
import {
  buildImageFields,
  errorFromImagesResponse,
  isGptImageModel,
  modelCapabilities,
  modelFamily,
  toMultipartBody,
  type ModerationClassifier,
} from './wire.js';

/** Image generation at high quality can take a couple of minutes; the client's 60 s default is too short. */
export const defaultImagesTimeoutMs = 300_000;
/** Ten base64 images of up to 3840x2160 fit; a response larger than this is not an Images answer. */
const maxResponseBytes = 200 * 1024 * 1024;

export interface OpenAIStyleModelConfig {
  provider: string;
  /** The upstream model name (decides the wire rules: gpt-image vs DALL·E vs compatible). */
  modelId: string;
  http: HttpClient;
  /** The URL of each supported operation. */
  endpoint: (operation: ImageOperation) => string;
  /** Auth and other fixed headers. */
  headers: Record<string, string>;
  /** Azure selects the model by deployment, so its bodies leave `model` out. */
  includeModelInBody: boolean;
  maxImagesPerCall: number;
  operations: readonly ImageOperation[];
  classifyModeration: ModerationClassifier;
  /** Response header carrying the upstream request id. */
  requestIdHeader: string;
  /** Scrubbed from anything shown: the API key. */
  secrets: string[];
  timeoutMs: number;
  /**
   * The upstream speaks OpenAI's image event stream: when a caller wants partial images from a
   * gpt-image model, ask for `stream: true` + `partial_images` and relay previews as they arrive.
   */
  streamsPartialImages?: boolean;
}

export function createOpenAIStyleImageModel(config: OpenAIStyleModelConfig): ImageModel {
  async function call(operation: ImageOperation, options: ImageCallOptions): Promise<ImageCallResult> {
    const { fields, warnings } = buildImageFields(options, operation, { includeModel: config.includeModelInBody });
    const streamReader = wantsUpstreamStream(options, operation) ? startStream(fields, options) : undefined;
    const request: HttpRequestOptions = {
      method: 'POST',
      headers: { accept: streamReader ? 'text/event-stream' : 'application/json', ...config.headers },
      signal: options.abortSignal,
      timeoutMs: config.timeoutMs,
      maxBytes: maxResponseBytes,
    };
    let streamed = false;
    if (streamReader) {
      request.onBodyChunk = (chunk, head) => {
        if (head.status < 200 || head.status >= 300 || !isEventStream(head.headers)) return;
        streamed = true;
        streamReader.push(chunk, head.headers);
      };
    }
    if (operation === 'generate') request.json = fields;
    else request.body = toMultipartBody(fields, options.images, operation === 'edit' ? options.mask : undefined);

    let response;
    try {
      response = await config.http.request(config.endpoint(operation), request);
    } catch (error) {
      // The caller aborted: it knows why, so it gets its own reason back, as from every adapter.
      if (options.abortSignal.aborted) throw options.abortSignal.reason;
      throw errorFromTransportFailure(config.provider, error);
    }
    if (response.status < 200 || response.status >= 300) {
      throw errorFromImagesResponse({
        provider: config.provider,
        model: config.modelId,
        response,
        secrets: config.secrets,
        classifyModeration: config.classifyModeration,
      });
    }
    let parsed;
    if (streamReader && isEventStream(response.headers)) {
      // A client that cannot hand over chunks still gets the whole stream read, only later.
      if (!streamed) streamReader.push(response.body, response.headers);
      parsed = streamReader.finish();
    } else {
      // Also the answer of a compatible server that ignored `stream`: an ordinary ImagesResponse.
      parsed = parseImagesResponse(config.provider, response, options.n);
    }
    const upstreamRequestId = response.headers[config.requestIdHeader];
    const quality = 'quality' in parsed && typeof parsed.quality === 'string' ? parsed.quality : undefined;
    return {
      images: parsed.images,
      warnings: [...warnings, ...parsed.warnings],
      ...(parsed.usage === undefined ? {} : { usage: parsed.usage }),
      ...(quality === undefined ? {} : { quality }),
      ...(upstreamRequestId === undefined ? {} : { upstreamRequestId }),
    };
  }

  function wantsUpstreamStream(options: ImageCallOptions, operation: ImageOperation): boolean {
    return (
      config.streamsPartialImages === true &&
      operation !== 'variation' &&
      options.onPartialImage !== undefined &&
      (options.partialImages ?? 0) > 0 &&
      isGptImageModel(options.model)
    );
  }

  function startStream(fields: Record<string, unknown>, options: ImageCallOptions): ImageStreamReader {
    fields['stream'] = true;
    fields['partial_images'] = options.partialImages;
    return createImageStreamReader({
      provider: config.provider,
      model: config.modelId,
      requested: options.n,
      onPartialImage: (image) => options.onPartialImage?.(image),
      classifyModeration: config.classifyModeration,
      secrets: config.secrets,
    });
  }

  const supports = (operation: ImageOperation) => config.operations.includes(operation);
  return {
    specificationVersion: 'v1',
    provider: config.provider,
    modelId: config.modelId,
    maxImagesPerCall: config.maxImagesPerCall,
    operations: config.operations,
    generate: (options) => call('generate', options),
    ...(supports('edit') ? { edit: (options: ImageCallOptions) => call('edit', options) } : {}),
    ...(supports('variation') ? { variation: (options: ImageCallOptions) => call('variation', options) } : {}),
  };
}

/**
 * Images per upstream call: `max_images_per_call` from the channel options when set (a positive
 * integer), else the model's default; never above OpenAI's own limit for OpenAI's models (dall-e-3
 * takes n=1 only, whatever the channel says), while compatible servers may be configured higher.
 */
export function configuredMaxImagesPerCall(channel: string, options: Record<string, unknown> | undefined, model: string): number {
  const family = modelFamily(model);
  const { maxImagesPerCall } = modelCapabilities(model);
  const value = options?.['max_images_per_call'];
  if (value === undefined) return maxImagesPerCall;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TypeError(`channel ${channel}: options.max_images_per_call must be a positive integer`);
  }
  return family === 'compatible' ? value : Math.min(value, maxImagesPerCall);
}

function isEventStream(headers: Record<string, string>): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('text/event-stream');
}
