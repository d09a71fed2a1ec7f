// The recraft provider: Recraft's image API (https://external.api.recraft.ai/v1), OpenAI-compatible
// for generations, with Recraft's own edit endpoints; `Authorization: Bearer <RECRAFT_API_TOKEN>`.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createRecraftImageModel } from './image-model.js';

export const recraftDefaultBaseURL = 'https://external.api.recraft.ai/v1';

/**
 * The upstream model name is Recraft's `model` (recraftv3, recraftv3_vector, recraftv4_1,
 * recraftv4_1_vector …). Generations go to /images/generations; edits to /images/inpaint with a
 * mask (V3 models) and /images/imageToImage without one. No channel options.
 */
export function createRecraftProvider(settings: ProviderSettings): ImageModelFactory {
  const baseURL = (settings.baseURL === '' ? recraftDefaultBaseURL : settings.baseURL).replace(/\/+$/, '');
  return (upstreamModel) => createRecraftImageModel(settings, baseURL, upstreamModel);
}
