// Kuaishou Kling image generation (Kolors models): asynchronous create task → poll, up to nine images
// per task, JWT auth from an access key and secret key.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createKlingImageModel } from './image-model.js';

export { klingModelNames, klingModelProfile } from './models.js';
export { parseKlingCredentials } from './auth.js';

/**
 * Kling's global endpoint ("调用域名", global docs: https://api-singapore.klingai.com). Accounts opened
 * on the China site call https://api-beijing.klingai.com (the Chinese docs' 调用域名); set `base_url`.
 */
export const klingDefaultBaseUrl = 'https://api-singapore.klingai.com';
/** Image tasks take tens of seconds; clients of Kling's API poll every 2 s (inference-sh/grid api/klingai/video/image-v3/inference.py). */
export const klingDefaultPollIntervalMs = 2_000;
export const klingDefaultTimeoutMs = 10 * 60 * 1000;

/** `settings.apiKey` is `<access key>:<secret key>`; each request carries a fresh HS256 JWT signed with them. */
export function createKlingProvider(settings: ProviderSettings): ImageModelFactory {
  const baseURL = (settings.baseURL === '' ? klingDefaultBaseUrl : settings.baseURL).replace(/\/+$/, '');
  const config = {
    baseURL,
    apiKey: settings.apiKey,
    http: settings.http,
    pollIntervalMs: settings.pollIntervalMs ?? klingDefaultPollIntervalMs,
    timeoutMs: settings.timeoutMs ?? klingDefaultTimeoutMs,
  };
  return (upstreamModel) => createKlingImageModel(upstreamModel, config);
}
