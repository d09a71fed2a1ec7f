// Provider kinds by name: the only module that knows every adapter, used by the composition root.

import type { ProviderName } from '../config/provider-names.js';
import type { ImageModelFactory } from '../core/ports/image-model.js';
import type { ProviderSettings } from './shared/types.js';
import { createA1111Provider } from './a1111/index.js';
import { createAzureProvider } from './azure/index.js';
import { createBflProvider } from './bfl/index.js';
import { createChatCompletionsProvider, createOpenRouterProvider, openRouterDefaultBaseURL } from './chat-completions/index.js';
import { createComfyProvider } from './comfyui/index.js';
import { createDashScopeProvider } from './dashscope/index.js';
import { createFalProvider } from './fal/index.js';
import { createGoogleProvider } from './google/index.js';
import { createKlingProvider, klingDefaultBaseUrl } from './kling/index.js';
import { createMidjourneyProxyProvider, midjourneyProxyDefaultBaseURL } from './midjourney-proxy/index.js';
import { createOpenAIProvider } from './openai/index.js';
import { createRecraftProvider, recraftDefaultBaseURL } from './recraft/index.js';
import { createXaiProvider, xaiDefaultBaseURL } from './xai/index.js';
import { createReplicateProvider } from './replicate/index.js';
import { createStabilityProvider } from './stability/index.js';
import { createIdeogramProvider } from './ideogram/index.js';
import { createVolcengineProvider, volcengineDefaultBaseURL } from './volcengine/index.js';

/** Every provider kind but the built-in offline engine, which the composition root builds itself. */
export type UpstreamProviderName = Exclude<ProviderName, 'offline'>;

export const upstreamProviders: Record<UpstreamProviderName, (settings: ProviderSettings) => ImageModelFactory> = {
  openai: createOpenAIProvider,
  azure: createAzureProvider,
  bfl: createBflProvider,
  replicate: createReplicateProvider,
  fal: createFalProvider,
  google: createGoogleProvider,
  stability: createStabilityProvider,
  a1111: createA1111Provider,
  comfyui: createComfyProvider,
  'midjourney-proxy': createMidjourneyProxyProvider,
  ideogram: createIdeogramProvider,
  kling: createKlingProvider,
  volcengine: createVolcengineProvider,
  openrouter: createOpenRouterProvider,
  'chat-completions': createChatCompletionsProvider,
  recraft: createRecraftProvider,
  xai: createXaiProvider,
  dashscope: createDashScopeProvider,
};

/** Default base URLs, used when a channel gives none. */
export const defaultBaseUrls: Record<UpstreamProviderName, string> = {
  openai: 'https://api.openai.com/v1',
  azure: '',
  bfl: 'https://api.bfl.ai',
  replicate: 'https://api.replicate.com/v1',
  fal: 'https://queue.fal.run',
  google: 'https://generativelanguage.googleapis.com/v1beta',
  stability: 'https://api.stability.ai',
  a1111: 'http://127.0.0.1:7860',
  comfyui: 'http://127.0.0.1:8188',
  'midjourney-proxy': midjourneyProxyDefaultBaseURL,
  ideogram: 'https://api.ideogram.ai',
  kling: klingDefaultBaseUrl,
  volcengine: volcengineDefaultBaseURL,
  openrouter: openRouterDefaultBaseURL,
  'chat-completions': '',
  recraft: recraftDefaultBaseURL,
  xai: xaiDefaultBaseURL,
  // Empty: the channel's options.region picks the host (Beijing unless it says otherwise).
  dashscope: '',
};
