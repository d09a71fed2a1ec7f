// The volcengine provider: ByteDance Seedream on Volcengine Ark (China) or BytePlus ModelArk (international).

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createVolcengineImageModel } from './image-model.js';

export { readVolcengineOptions, volcengineDefaultBaseURL } from './image-model.js';
export { seedreamProfile } from './models.js';

/**
 * `settings.baseURL` defaults to https://ark.cn-beijing.volces.com/api/v3 (Volcengine Ark, Beijing); a
 * BytePlus ModelArk key goes with https://ark.ap-southeast.bytepluses.com/api/v3. `api_key` is the Ark
 * API key (`ARK_API_KEY`), sent as a Bearer token. The upstream model name is a model id
 * (`doubao-seedream-4-5-251128`; on BytePlus `seedream-4-5-251128`) or an inference endpoint id
 * (`ep-…`). Channel options: `watermark` (default false) and `endpoint_models` (endpoint id → model).
 */
export function createVolcengineProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createVolcengineImageModel(settings, upstreamModel);
}
