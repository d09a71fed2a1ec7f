// Image models reached through `POST {base}/chat/completions` (OpenRouter, and relays such as new-api,
// one-api or LiteLLM serving Gemini "nano banana", gpt-5-image …): one Images API call becomes one chat
// call with `modalities: ["image", "text"]`, and the images in the answer come back as results.

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ProviderWarning } from '../../core/ports/image-model.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, moderationError, outOfFundsError, sanitizeUpstreamMessage, withStatus } from '../shared/upstream-errors.js';
import { buildChatBody, moderationReasonsOf, noImageError, parseChatCompletion, parseErrorBody, type ChatImageAnswer } from './wire.js';

/** The ten ratios of OpenRouter's `image_config.aspect_ratio` (Gemini's list; other models are clamped by OpenRouter). */
export const chatImageAspectRatios = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'] as const;

/**
 * Gemini's image models render a tier (1K, and for Gemini 3 also 2K and 4K: `image_config.image_size`)
 * at one of the ten ratios. Other models (gpt-5-image, FLUX …) get only the ratio, which OpenRouter
 * clamps to what they support, and choose their own pixel count.
 */
export function chatImageSizeSpec(model: string): SizeSpec {
  if (takesImageSize(model)) {
    return {
      kind: 'tier',
      tiers: [
        { name: '1K', maxEdge: 1024 },
        { name: '2K', maxEdge: 2048 },
        { name: '4K', maxEdge: 4096 },
      ],
      ratios: chatImageAspectRatios,
    };
  }
  if (/(^|\/)gemini-/i.test(model)) return { kind: 'tier', tiers: [{ name: '1K', maxEdge: 1024 }], ratios: chatImageAspectRatios };
  return { kind: 'aspect_ratio', ratios: chatImageAspectRatios };
}

/** "Image Size (Gemini only)": of Gemini's image models only the 3.x ones have tiers above 1K. */
function takesImageSize(model: string): boolean {
  return /(^|\/)gemini-3/i.test(model);
}

/** A 4K PNG as a base64 data URL is ~30 MB; room for two and the JSON around them. */
const maxResponseBytes = 100 * 1024 * 1024;
/** Gemini 3 Pro Image at 4K, behind a relay, takes minutes. */
const defaultTimeoutMs = 300_000;
/** OpenRouter seeds are integers; Gemini reads them as int32. */
const largestSeed = 2_147_483_647;

export interface ChatImageChannelOptions {
  /** `modalities` sent; image-only models (FLUX on OpenRouter) want `["image"]`. */
  modalities: string[];
  /** Send `image_config` (aspect ratio, Gemini 3 tier). A relay that rejects unknown fields turns it off. */
  imageConfig: boolean;
}

export function readChatImageOptions(channel: string, options: Record<string, unknown> = {}): ChatImageChannelOptions {
  const modalities = options['modalities'] ?? ['image', 'text'];
  if (!Array.isArray(modalities) || modalities.length === 0 || !modalities.every((entry) => entry === 'image' || entry === 'text') || !modalities.includes('image')) {
    throw new TypeError(`channel ${channel}: options.modalities must list 'image' and optionally 'text'`);
  }
  const imageConfig = options['image_config'] ?? true;
  if (typeof imageConfig !== 'boolean') throw new TypeError(`channel ${channel}: options.image_config must be true or false`);
  return { modalities: modalities as string[], imageConfig };
}

export function createChatImageModel(settings: ProviderSettings, providerName: string, baseURL: string, modelId: string): ImageModel {
  const channelOptions = readChatImageOptions(settings.channel, settings.options);
  const sizeSpec = chatImageSizeSpec(modelId);
  const secrets = [settings.apiKey];

  async function call(options: ImageCallOptions): Promise<ImageCallResult> {
    const warnings: ProviderWarning[] = unsupportedOptionWarnings(options);
    const size = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, sizeSpec);
    if (size.value.kind !== 'tier' && size.value.kind !== 'aspect_ratio') throw new Error('chat image sizes are a tier or a ratio');
    let imageConfig: Record<string, string> | undefined;
    if (channelOptions.imageConfig) {
      warnings.push(...size.warnings);
      imageConfig = { aspect_ratio: size.value.aspectRatio, ...(size.value.kind === 'tier' && takesImageSize(modelId) ? { image_size: size.value.tier } : {}) };
    } else {
      warnings.push({ type: 'unsupported', param: 'size', message: `This channel sends no image_config; the model picks the size (${options.size.width}x${options.size.height} was asked).` });
    }
    let seed = options.seed;
    if (seed !== undefined && seed > largestSeed) {
      seed %= largestSeed + 1;
      warnings.push({ type: 'mapped', param: 'seed', message: `Seeds are at most ${largestSeed} here; sent ${seed}.` });
    }
    if (options.mask !== undefined) {
      warnings.push({ type: 'unsupported', param: 'mask', message: 'Chat image models edit by the prompt and take no mask; the mask was not sent.' });
    }

    const body = mergeProviderOptions(
      buildChatBody({ model: modelId, prompt: options.prompt, images: options.images, modalities: channelOptions.modalities, imageConfig, seed, user: options.user }),
      options.providerOptions,
      warnings,
    );
    const response = await post(body, options.abortSignal);
    const answer = parseChatCompletion(providerName, response.body);
    if (answer.error !== undefined && answer.images.length === 0) throw errorInAnswer(answer.error, response);
    if (answer.images.length === 0) throw withoutImage(answer);

    const result: ImageCallResult = { images: answer.images.slice(0, Math.max(1, options.n)), warnings };
    if (answer.usage !== undefined) result.usage = { inputTokens: answer.usage.promptTokens, outputTokens: answer.usage.completionTokens };
    if (answer.id !== undefined) result.upstreamRequestId = answer.id;
    if (answer.usage?.cost !== undefined) result.upstreamCostUsd = answer.usage.cost;
    return result;
  }

  async function post(body: Record<string, unknown>, signal: AbortSignal): Promise<HttpResponse> {
    const response = await requestUpstream(settings.http, providerName, `${baseURL}/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${settings.apiKey}`, accept: 'application/json' },
      json: body,
      signal,
      timeoutMs: settings.timeoutMs ?? defaultTimeoutMs,
      maxBytes: maxResponseBytes,
    });
    if (response.status >= 200 && response.status < 300) return response;
    throw errorOfResponse(response);
  }

  function errorOfResponse(response: HttpResponse): GatewayError {
    const described = parseErrorBody(response.body);
    // OpenRouter: "403: Your chosen model requires moderation and your input was flagged", with
    // ModerationErrorMetadata {reasons, flagged_input, provider_name, model_slug}.
    const reasons = moderationReasonsOf(described?.metadata);
    if (response.status === 403 && reasons !== undefined) {
      return moderationError({ provider: providerName, model: modelId, stage: 'input', reasons });
    }
    return errorFromUpstreamResponse(providerName, response, { secrets, ...(described?.message ? { message: described.message } : {}) });
  }

  /** An error inside a 200 answer: OpenRouter gives it the status it would have had. */
  function errorInAnswer(error: NonNullable<ChatImageAnswer['error']>, response: HttpResponse): GatewayError {
    const status = typeof error.code === 'number' ? error.code : Number(error.code);
    const reasons = moderationReasonsOf(error.metadata);
    if (reasons !== undefined) return moderationError({ provider: providerName, model: modelId, stage: 'input', reasons });
    if (status === 402) return outOfFundsError(providerName, status);
    if (Number.isInteger(status) && status >= 400 && status <= 599) {
      return errorFromUpstreamResponse(providerName, withStatus(response, status), { secrets, message: error.message });
    }
    const message = sanitizeUpstreamMessage(error.message, secrets);
    return new GatewayError('upstream_error', `${providerName} failed while generating${message === '' ? '' : `: ${message}`}`, { retryable: true });
  }

  function withoutImage(answer: ChatImageAnswer): GatewayError {
    // new-api turns Gemini's SAFETY / PROHIBITED_CONTENT / IMAGE_SAFETY … into `content_filter`; OpenRouter
    // keeps the model's word in `native_finish_reason`.
    if (answer.finishReason === 'content_filter') {
      return moderationError({ provider: providerName, model: modelId, stage: 'output', reasons: answer.nativeFinishReason === undefined ? [] : [answer.nativeFinishReason] });
    }
    if (answer.refusal !== undefined) {
      return moderationError({ provider: providerName, model: modelId, stage: 'input', reasons: [sanitizeUpstreamMessage(answer.refusal, secrets).slice(0, 200)] });
    }
    const text = sanitizeUpstreamMessage(answer.text, secrets);
    const said = text === '' ? '' : ` It replied: "${text.slice(0, 200)}${text.length > 200 ? '…' : ''}"`;
    return noImageError(providerName, modelId, answer, said);
  }

  return {
    specificationVersion: 'v1',
    provider: providerName,
    modelId,
    // No `n` in a chat completion (OpenRouter's ChatRequest has none): one image per call, `n` fans out.
    maxImagesPerCall: 1,
    operations: ['generate', 'edit'],
    generate: call,
    edit: call,
  };
}

/** The OpenAI options a chat image call has no field for. */
function unsupportedOptionWarnings(options: ImageCallOptions): ProviderWarning[] {
  const warnings: ProviderWarning[] = [];
  if (options.quality !== undefined && options.quality !== 'auto') warnings.push({ type: 'unsupported', param: 'quality', message: 'Chat image models have no quality setting; ignored.' });
  if (options.style !== undefined) warnings.push({ type: 'unsupported', param: 'style', message: 'Chat image models have no style setting; ignored.' });
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'Chat image models cannot be asked for a transparent background; the image is opaque.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: 'Moderation is set by the upstream; ignored.' });
  }
  return warnings;
}

/**
 * Fields a client may not set: they pick what is called and billed (`model`, OpenRouter's fallback
 * `models`), or what the gateway reads back (`messages`, `stream`, `n`, `modalities`).
 */
const reservedFields = new Set(['model', 'models', 'messages', 'stream', 'n', 'modalities']);

/** Request fields the gateway does not model (`provider` routing, `image_config` extras …) go into the body; objects are merged. */
function mergeProviderOptions(body: Record<string, unknown>, providerOptions: Record<string, unknown>, warnings: ProviderWarning[]): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...body };
  for (const [key, value] of Object.entries(providerOptions)) {
    if (reservedFields.has(key)) {
      warnings.push({ type: 'unsupported', param: key, message: `${key} is set by the gateway for chat image models; the request's value was not sent.` });
      continue;
    }
    const ours = merged[key];
    merged[key] = isPlainObject(ours) && isPlainObject(value) ? { ...ours, ...value } : value;
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
