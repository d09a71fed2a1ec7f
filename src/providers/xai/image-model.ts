// The ImageModel for one xAI image model: one synchronous JSON call per generation or edit, answered
// with an OpenAI-style ImagesResponse (`data[].b64_json`, `mime_type`, `revised_prompt`, `usage`).

import type { ImageCallOptions, ImageCallResult, ImageModel } from '../../core/ports/image-model.js';
import { callImagesEndpoint } from '../shared/images-response.js';
import type { ProviderSettings } from '../shared/types.js';
import { buildXaiBody, errorFromXaiResponse, xaiProviderName } from './wire.js';

/** "Number of images, 1 to 10" (xAI's image guide); more fans out into several calls. */
export const xaiMaxImagesPerCall = 10;
const defaultTimeoutMs = 180_000;
const maxResponseBytes = 150 * 1024 * 1024;

export function createXaiImageModel(settings: ProviderSettings, baseURL: string, upstreamModel: string): ImageModel {
  async function call(options: ImageCallOptions, edit: boolean): Promise<ImageCallResult> {
    const { body, warnings } = buildXaiBody(options, edit);
    const url = `${baseURL}/images/${edit ? 'edits' : 'generations'}`;
    return callImagesEndpoint(settings, options, { provider: xaiProviderName, url, body, errorFrom: errorFromXaiResponse, defaultTimeoutMs, maxResponseBytes, requestIdHeader: 'x-request-id' }, warnings);
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
