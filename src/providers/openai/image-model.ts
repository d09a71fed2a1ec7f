// The ImageModel for OpenAI-style Images endpoints, parameterised by where and how to call them, so
// the openai adapter and the azure adapter (deployment URLs, api-key header) share one implementation.

import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation } from '../../core/ports/image-model.js';
import type { HttpClient, HttpRequestOptions } from '../shared/types.js';
import { errorFromTransportFailure } from '../shared/upstream-errors.js';
import {
  buildImageFields,
  errorFromImagesResponse,
  modelCapabilities,
  modelFamily,
  parseImagesResponse,
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
}

export function createOpenAIStyleImageModel(config: OpenAIStyleModelConfig): ImageModel {
  async function call(operation: ImageOperation, options: ImageCallOptions): Promise<ImageCallResult> {
    const { fields, warnings } = buildImageFields(options, operation, { includeModel: config.includeModelInBody });
    const request: HttpRequestOptions = {
      method: 'POST',
      headers: { accept: 'application/json', ...config.headers },
      signal: options.abortSignal,
      timeoutMs: config.timeoutMs,
      maxBytes: maxResponseBytes,
    };
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
    const parsed = parseImagesResponse(config.provider, response, options.n);
    const upstreamRequestId = response.headers[config.requestIdHeader];
    return {
      images: parsed.images,
      warnings: [...warnings, ...parsed.warnings],
      ...(parsed.usage === undefined ? {} : { usage: parsed.usage }),
      ...(upstreamRequestId === undefined ? {} : { upstreamRequestId }),
    };
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
