// Black Forest Labs (FLUX) provider: asynchronous submit → poll, one image per task, signed result URLs.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createBflImageModel } from './image-model.js';

export { bflModelProfile, type BflFamily, type BflModelProfile } from './models.js';

export const bflDefaultBaseUrl = 'https://api.bfl.ai';
/** BFL's own examples poll every half second. */
export const bflDefaultPollIntervalMs = 500;
/** Generous: FLUX tasks take seconds, but queues at BFL can back up. */
export const bflDefaultTimeoutMs = 5 * 60 * 1000;

export function createBflProvider(settings: ProviderSettings): ImageModelFactory {
  const baseURL = (settings.baseURL === '' ? bflDefaultBaseUrl : settings.baseURL).replace(/\/+$/, '');
  const config = {
    baseURL,
    apiKey: settings.apiKey,
    http: settings.http,
    pollIntervalMs: settings.pollIntervalMs ?? bflDefaultPollIntervalMs,
    timeoutMs: settings.timeoutMs ?? bflDefaultTimeoutMs,
  };
  return (upstreamModel) => createBflImageModel(upstreamModel, config);
}
