// The midjourney-proxy provider: an upstream midjourney-proxy (novicezk/midjourney-proxy, the
// trueai-org fork, or a relay's `/mj` routes) that drives Midjourney.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createMidjourneyProxyImageModel } from './image-model.js';

export { midjourneyProxyDefaultBaseURL, type MjActionOption, type MjJobData } from './image-model.js';
export { midjourneyProxyProviderName } from './wire.js';

/**
 * `settings.baseURL` is the proxy's address without `/mj` (default http://127.0.0.1:8080); `api_key`
 * is sent as `mj-api-secret`. `options.stuck_timeout_ms` (default 15 min, or the channel's
 * `timeout_ms`): a task not finished that long after submission fails and is refunded. The upstream
 * model name is not sent (Midjourney's version is a prompt parameter, `--v 6.1`).
 */
export function createMidjourneyProxyProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => createMidjourneyProxyImageModel(settings, upstreamModel);
}
