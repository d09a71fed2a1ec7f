// The azure provider: Azure OpenAI image deployments, called at
// {endpoint}/openai/deployments/{deployment}/images/{generations|edits}?api-version=… with an `api-key` header.
// The wire format is OpenAI's, so the request and response mapping comes from the openai adapter.

import type { ImageModelFactory, ImageOperation } from '../../core/ports/image-model.js';
import { configuredMaxImagesPerCall, createOpenAIStyleImageModel, defaultImagesTimeoutMs } from '../openai/image-model.js';
import { classifyOpenAIModeration, modelCapabilities, stageFromMessage, type ModerationClassifier } from '../openai/wire.js';
import type { ProviderSettings } from '../shared/types.js';

/**
 * The data-plane version the adapter speaks unless the channel says otherwise: the first with
 * gpt-image-1 generations and edits (the latest GA, 2024-10-21, has DALL·E 3 only).
 */
export const defaultAzureApiVersion = '2025-04-01-preview';

/** Azure has no variations endpoint. */
const azureOperations: readonly ImageOperation[] = ['generate', 'edit'];

/**
 * Azure's content filter: `content_filter` / `contentFilter` codes, or an inner
 * ResponsibleAIPolicyViolation; a filtered result says "Generated image was filtered".
 * OpenAI's own codes are recognised too, as Azure passes some through.
 */
export const classifyAzureModeration: ModerationClassifier = (error) => {
  const openai = classifyOpenAIModeration(error);
  if (openai !== undefined) return openai;
  const filtered = error.code === 'content_filter' || error.code === 'contentFilter' || error.innerCode === 'ResponsibleAIPolicyViolation';
  if (!filtered) return undefined;
  return error.moderationStage ?? stageFromMessage(error.message);
};

/**
 * Settings: `baseURL` is the resource endpoint (`https://myres.openai.azure.com`). Channel options:
 * - `api_version` (default {@link defaultAzureApiVersion}).
 * - `deployments`: upstream model name → deployment name; a model not listed is its own deployment name.
 * - `max_images_per_call` as for the openai provider.
 */
export function createAzureProvider(settings: ProviderSettings): ImageModelFactory {
  if (settings.baseURL === '') throw new TypeError(`channel ${settings.channel}: azure needs baseURL, the resource endpoint`);
  // People paste the endpoint with or without the `/openai` suffix the portal shows in places.
  const endpoint = settings.baseURL.replace(/\/+$/, '').replace(/\/openai$/, '');
  const options = settings.options ?? {};
  const apiVersion = options['api_version'] ?? defaultAzureApiVersion;
  if (typeof apiVersion !== 'string' || !/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(apiVersion)) {
    throw new TypeError(`channel ${settings.channel}: options.api_version must look like 2025-04-01-preview`);
  }
  const deployments = readDeployments(settings.channel, options['deployments']);
  const paths: Partial<Record<ImageOperation, string>> = { generate: 'generations', edit: 'edits' };

  return (upstreamModel) => {
    const deployment = deployments[upstreamModel] ?? upstreamModel;
    const base = `${endpoint}/openai/deployments/${encodeURIComponent(deployment)}/images`;
    return createOpenAIStyleImageModel({
      provider: 'azure',
      modelId: upstreamModel,
      http: settings.http,
      endpoint: (operation) => `${base}/${paths[operation] ?? operation}?api-version=${encodeURIComponent(apiVersion)}`,
      headers: { 'api-key': settings.apiKey },
      includeModelInBody: false,
      maxImagesPerCall: configuredMaxImagesPerCall(settings.channel, options, upstreamModel),
      operations: modelCapabilities(upstreamModel).operations.filter((operation) => azureOperations.includes(operation)),
      classifyModeration: classifyAzureModeration,
      requestIdHeader: 'apim-request-id',
      secrets: [settings.apiKey],
      timeoutMs: settings.timeoutMs ?? defaultImagesTimeoutMs,
    });
  };
}

function readDeployments(channel: string, value: unknown): Readonly<Record<string, string>> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !Object.values(value).every((item) => typeof item === 'string' && item !== '')) {
    throw new TypeError(`channel ${channel}: options.deployments must map model names to deployment names`);
  }
  return value as Record<string, string>;
}
