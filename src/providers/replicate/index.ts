// The Replicate provider: builds an ImageModel for any Replicate model name from one channel's settings.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createReplicateImageModel } from './image-model.js';

export { replicateDefaultBaseURL, replicateFluxAspectRatios, parseModelReference, moderationStageOf } from './image-model.js';

/**
 * `settings.baseURL` defaults to https://api.replicate.com/v1 when empty. Upstream names are
 * `owner/name` (official models, e.g. `black-forest-labs/flux-schnell`) or `owner/name:<version>`.
 * `settings.options.max_images_per_call` overrides the per-model `num_outputs` limit for models the
 * adapter does not know.
 */
export function createReplicateProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createReplicateImageModel(settings, upstreamModel);
}
