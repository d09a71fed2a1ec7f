// The Ideogram provider: Ideogram 3.0 on api.ideogram.ai (generate, edit, remix, reframe, replace-background).

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createIdeogramImageModel } from './image-model.js';

export { ideogramDefaultBaseURL, nearestResolution, toIdeogramMask } from './image-model.js';
export { ideogramAspectRatios, ideogramResolutions } from './models.js';

/**
 * `settings.baseURL` defaults to https://api.ideogram.ai; the key goes in the `Api-Key` header.
 * Upstream names: `ideogram-v3` (generations; edits through /edit with a mask, /remix without),
 * `ideogram-v3-reframe` and `ideogram-v3-replace-background` (edits only). Building a model for any
 * other name fails with `model_not_found`.
 */
export function createIdeogramProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createIdeogramImageModel(settings, upstreamModel);
}
