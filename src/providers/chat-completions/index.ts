// Chat-completions image models, under two provider kinds built by one adapter: `openrouter` (OpenRouter's
// API by default, `google/gemini-2.5-flash-image`-style model names) and `chat-completions` (any other
// OpenAI-compatible relay — new-api, one-api, LiteLLM … — at the channel's base_url).

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createChatImageModel, readChatImageOptions } from './image-model.js';

export { chatImageAspectRatios, chatImageSizeSpec, readChatImageOptions } from './image-model.js';

export const openRouterDefaultBaseURL = 'https://openrouter.ai/api/v1';

/**
 * `settings.baseURL` defaults to https://openrouter.ai/api/v1; the key goes in `Authorization: Bearer`.
 * Channel options: `modalities` (default `[image, text]`; `[image]` for image-only models) and
 * `image_config: false` for a relay that refuses OpenRouter's `image_config` field.
 */
export function createOpenRouterProvider(settings: ProviderSettings): ImageModelFactory {
  return createChatProvider(settings, 'openrouter', settings.baseURL || openRouterDefaultBaseURL);
}

/** An OpenAI-compatible relay that serves image models on `/chat/completions`; it has no default address. */
export function createChatCompletionsProvider(settings: ProviderSettings): ImageModelFactory {
  if (settings.baseURL === '') throw new TypeError(`channel ${settings.channel}: chat-completions needs base_url, the relay's OpenAI-compatible /v1 address`);
  return createChatProvider(settings, 'chat-completions', settings.baseURL);
}

function createChatProvider(settings: ProviderSettings, providerName: string, baseURL: string): ImageModelFactory {
  // Options are checked when the channel is built, not at its first request.
  readChatImageOptions(settings.channel, settings.options);
  const base = baseURL.replace(/\/+$/, '');
  return (upstreamModel) => createChatImageModel(settings, providerName, base, upstreamModel);
}
