// The Stability AI provider: Stable Image Ultra, Core and SD3.x on the v2beta API, from one channel's settings.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createStabilityImageModel } from './image-model.js';

export { stabilityAspectRatios, stabilityDefaultBaseURL, stabilityEndpointFor, stabilitySizeSpec, toStabilityMask } from './image-model.js';

/**
 * `settings.baseURL` defaults to https://api.stability.ai when empty; the key goes in
 * `Authorization: Bearer`. Upstream names: `stable-image-ultra`, `stable-image-core`, or an SD3 model
 * (`sd3.5-large`, `sd3.5-large-turbo`, `sd3.5-medium`, `sd3.5-flash` …). Building a model for any
 * other name fails with `model_not_found`.
 */
export function createStabilityProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createStabilityImageModel(settings, upstreamModel);
}
