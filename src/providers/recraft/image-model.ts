// The ImageModel for one Recraft model: a synchronous JSON call per generation or edit, answered with
// an OpenAI-style ImagesResponse (`data[].b64_json`, `url`, `revised_prompt`), SVG for vector models.

import type { ImageCallOptions, ImageCallResult, ImageModel } from '../../core/ports/image-model.js';
import { callImagesEndpoint } from '../shared/images-response.js';
import type { ProviderSettings } from '../shared/types.js';
import { buildRecraftCall, errorFromRecraftResponse, recraftProviderName } from './wire.js';

/** "The number of images to generate, must be between 1 and 6" (https://www.recraft.ai/docs/api-reference/endpoints). */
export const recraftMaxImagesPerCall = 6;
const defaultTimeoutMs = 180_000;
/** Six 2K rasters or six SVGs as base64 fit well within this. */
const maxResponseBytes = 150 * 1024 * 1024;

export function createRecraftImageModel(settings: ProviderSettings, baseURL: string, upstreamModel: string): ImageModel {
  async function call(options: ImageCallOptions, edit: boolean): Promise<ImageCallResult> {
    const { operation, body, warnings } = await buildRecraftCall(options, edit);
    const url = `${baseURL}/images/${operation}`;
    return callImagesEndpoint(settings, options, { provider: recraftProviderName, url, body, errorFrom: errorFromRecraftResponse, defaultTimeoutMs, maxResponseBytes }, warnings);
  }

  return {
    specificationVersion: 'v1',
    provider: recraftProviderName,
    modelId: upstreamModel,
    maxImagesPerCall: recraftMaxImagesPerCall,
    operations: ['generate', 'edit'],
    generate: (options) => call(options, false),
    edit: (options) => call(options, true),
  };
}
