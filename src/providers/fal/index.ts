// The fal.ai provider: builds an ImageModel for any fal queue endpoint from one channel's settings.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createFalImageModel } from './image-model.js';

export { falDefaultBaseURL, falImageSizePresets, falUltraAspectRatios, moderationStageOf } from './image-model.js';

/**
 * `settings.baseURL` defaults to https://queue.fal.run when empty. Upstream names are fal endpoint
 * ids such as `fal-ai/flux/dev`. `settings.options.image_size: 'preset'` makes the adapter send
 * only the named `image_size` presets, for endpoints that take no custom sizes.
 */
export function createFalProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createFalImageModel(settings, upstreamModel);
}
