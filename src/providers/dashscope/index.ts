// Alibaba Cloud Model Studio (DashScope): Qwen-Image and Wan text-to-image and editing, through the
// asynchronous task API or the synchronous multimodal-generation API, in the Beijing, Singapore or
// Virginia region.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createDashScopeImageModel } from './image-model.js';

export { dashScopeModelProfile, type DashScopeModelProfile, type DashScopeProtocol } from './models.js';

/**
 * "The Singapore, Virginia, and Beijing regions have separate API keys and request endpoints. Do not
 * use them interchangeably" (Model Studio API references, prerequisites). A key works only at its region's host.
 */
export const dashScopeRegionHosts: Readonly<Record<string, string>> = {
  beijing: 'https://dashscope.aliyuncs.com',
  singapore: 'https://dashscope-intl.aliyuncs.com',
  virginia: 'https://dashscope-us.aliyuncs.com',
};

/** The official SDKs' default host (dashscope-sdk-python / -nodejs: https://dashscope.aliyuncs.com/api/v1). */
export const dashScopeDefaultRegion = 'beijing';
/** The SDKs poll from 1 s up to 5 s (dashscope-sdk-nodejs src/common/asyncTask.ts); Alibaba suggests 5–10 s for images. */
export const dashScopeDefaultPollIntervalMs = 2_000;
/** Image tasks "take 1 to 2 minutes"; queues can back up. */
export const dashScopeDefaultTimeoutMs = 5 * 60 * 1000;

/**
 * Settings: `baseURL` is the region host (`https://dashscope-intl.aliyuncs.com`, with or without the
 * SDKs' `/api/v1`); when the channel gives none, `options.region` picks it: `beijing` (default),
 * `singapore` or `virginia`. `options.workspace` is sent as X-DashScope-WorkSpace.
 */
export function createDashScopeProvider(settings: ProviderSettings): ImageModelFactory {
  const options = settings.options ?? {};
  const region = options['region'] ?? dashScopeDefaultRegion;
  if (typeof region !== 'string' || dashScopeRegionHosts[region] === undefined) {
    throw new TypeError(`channel ${settings.channel}: options.region must be one of ${Object.keys(dashScopeRegionHosts).join(', ')}`);
  }
  const workspace = options['workspace'];
  if (workspace !== undefined && (typeof workspace !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(workspace))) {
    throw new TypeError(`channel ${settings.channel}: options.workspace must be a workspace id such as llm-xxxx`);
  }
  const baseURL = (settings.baseURL === '' ? (dashScopeRegionHosts[region] ?? '') : settings.baseURL).replace(/\/+$/, '').replace(/\/api\/v1$/, '');
  const config = {
    baseURL,
    apiKey: settings.apiKey,
    http: settings.http,
    pollIntervalMs: settings.pollIntervalMs ?? dashScopeDefaultPollIntervalMs,
    timeoutMs: settings.timeoutMs ?? dashScopeDefaultTimeoutMs,
    ...(typeof workspace === 'string' ? { workspace } : {}),
  };
  return (upstreamModel) => createDashScopeImageModel(upstreamModel, config);
}
