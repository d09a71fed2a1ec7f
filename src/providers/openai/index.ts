// The openai provider: OpenAI's Images API and any OpenAI-compatible upstream (LocalAI, sd.cpp,
// Together, SiliconFlow, xAI, other relays), called with `Authorization: Bearer <key>`.

import type { ImageModelFactory, ImageOperation } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { configuredMaxImagesPerCall, createOpenAIStyleImageModel, defaultImagesTimeoutMs } from './image-model.js';
import { classifyOpenAIModeration, modelCapabilities } from './wire.js';

export const defaultOpenAIBaseURL = 'https://api.openai.com/v1';

const operationNames: readonly ImageOperation[] = ['generate', 'edit', 'variation'];

/**
 * Channel options (all optional):
 * - `max_images_per_call`: images per upstream call (default 10; dall-e-3 is always 1).
 * - `operations`: narrows what a compatible server offers, e.g. `["generate"]` for one without edits.
 * - `organization`, `project`: sent as OpenAI-Organization / OpenAI-Project.
 */
export function createOpenAIProvider(settings: ProviderSettings): ImageModelFactory {
  const baseURL = (settings.baseURL === '' ? defaultOpenAIBaseURL : settings.baseURL).replace(/\/+$/, '');
  const options = settings.options ?? {};
  const headers: Record<string, string> = { authorization: `Bearer ${settings.apiKey}` };
  const organization = optionalString(settings.channel, options, 'organization');
  const project = optionalString(settings.channel, options, 'project');
  if (organization !== undefined) headers['openai-organization'] = organization;
  if (project !== undefined) headers['openai-project'] = project;
  const allowedOperations = readOperations(settings.channel, options['operations']);
  const paths: Record<ImageOperation, string> = { generate: 'generations', edit: 'edits', variation: 'variations' };

  return (upstreamModel) => {
    const capabilities = modelCapabilities(upstreamModel);
    return createOpenAIStyleImageModel({
      provider: 'openai',
      modelId: upstreamModel,
      http: settings.http,
      endpoint: (operation) => `${baseURL}/images/${paths[operation]}`,
      headers,
      includeModelInBody: true,
      maxImagesPerCall: configuredMaxImagesPerCall(settings.channel, options, upstreamModel),
      operations: capabilities.operations.filter((operation) => allowedOperations?.includes(operation) ?? true),
      classifyModeration: classifyOpenAIModeration,
      requestIdHeader: 'x-request-id',
      secrets: [settings.apiKey],
      timeoutMs: settings.timeoutMs ?? defaultImagesTimeoutMs,
      streamsPartialImages: true,
    });
  };
}

function optionalString(channel: string, options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new TypeError(`channel ${channel}: options.${name} must be a non-empty string`);
  return value;
}

function readOperations(channel: string, value: unknown): readonly ImageOperation[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((item): item is ImageOperation => operationNames.includes(item as ImageOperation))) {
    throw new TypeError(`channel ${channel}: options.operations must list some of ${operationNames.join(', ')}`);
  }
  return value;
}
