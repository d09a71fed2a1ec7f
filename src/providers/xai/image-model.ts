// The ImageModel for one xAI image model: one synchronous JSON call per generation or edit, answered
// with an OpenAI-style ImagesResponse (`data[].b64_json`, `mime_type`, `revised_prompt`, `usage`).

import type { ImageCallOptions, ImageCallResult, ImageModel } from '../../core/ports/image-model.js';
import { parseImagesResponse } from '../openai/wire.js';
import type { ProviderSettings } from '../shared/types.js';
import { requestUpstream } from '../shared/upstream-errors.js';
import { buildXaiBody, errorFromXaiResponse, xaiProviderName } from './wire.js';

/** "Number of images, 1 to 10" (xAI's image guide); more fans out into several calls. */
export const xaiMaxImagesPerCall = 10;
const defaultTimeoutMs = 180_000;
const maxResponseBytes = 150 * 1024 * 1024;

export function createXaiImageModel(settings: ProviderSettings, baseURL: string, upstreamModel: string): ImageModel {
  async function call(options: ImageCallOptions, edit: boolean): Promise<ImageCallResult> {
    const { body, warnings } = buildXaiBody(options, edit);
    const response = await requestUpstream(settings.http, xaiProviderName, `${baseURL}/images/${edit ? 'edits' : 'generations'}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${settings.apiKey}`, accept: 'application/json' },
      json: body,
      signal: options.abortSignal,
      timeoutMs: settings.timeoutMs ?? defaultTimeoutMs,
      maxBytes: maxResponseBytes,
    });
    if (response.status < 200 || response.status >= 300) throw errorFromXaiResponse(response, options.model, [settings.apiKey]);
    const parsed = parseImagesResponse(xaiProviderName, response, options.n);
    const upstreamRequestId = response.headers['x-request-id'];
    return { images: parsed.images, warnings: [...warnings, ...parsed.warnings], ...(upstreamRequestId === undefined ? {} : { upstreamRequestId }) };
  }

  return {
    specificationVersion: 'v1',
    provider: xaiProviderName,
    modelId: upstreamModel,
    maxImagesPerCall: xaiMaxImagesPerCall,
    operations: ['generate', 'edit'],
    generate: (options) => call(options, false),
    edit: (options) => call(options, true),
  };
}
