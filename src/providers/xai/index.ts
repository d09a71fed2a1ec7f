// The xai provider: xAI's Images API (https://api.x.ai/v1), OpenAI-compatible for generations, with
// JSON edits; `Authorization: Bearer <XAI_API_KEY>`.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createXaiImageModel } from './image-model.js';

export { xaiAspectRatios } from './wire.js';

export const xaiDefaultBaseURL = 'https://api.x.ai/v1';

/**
 * The upstream model name is xAI's (grok-imagine-image, grok-imagine-image-quality,
 * grok-imagine-image-2.0 …). No channel options.
 */
export function createXaiProvider(settings: ProviderSettings): ImageModelFactory {
  const baseURL = (settings.baseURL === '' ? xaiDefaultBaseURL : settings.baseURL).replace(/\/+$/, '');
  return (upstreamModel) => createXaiImageModel(settings, baseURL, upstreamModel);
}
