// Gemini's native image models (`gemini-2.5-flash-image`, `gemini-3-pro-image` …) through
// `:generateContent`: one image per call, size as aspect ratio plus (Gemini 3) a 1K/2K/4K tier.

import sharp from 'sharp';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, InputImage, ProviderWarning } from '../../core/ports/image-model.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { ProviderSettings } from '../shared/types.js';
import { moderationError, sanitizeUpstreamMessage } from '../shared/upstream-errors.js';
import { mergeProviderOptions, postToGoogle, unsupportedOptionWarnings } from './request.js';
import { googleProviderName, parseGenerateContentResponse, type GeminiCandidate } from './wire.js';

export const geminiAspectRatios = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'] as const;

/** Finish reasons that mean the safety system withheld the generated image. */
const outputModerationReasons = new Set(['IMAGE_SAFETY', 'IMAGE_PROHIBITED_CONTENT', 'SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII']);

/** Gemini's `generationConfig.seed` is an int32. */
const largestSeed = 2_147_483_647;

/** Gemini 3 image models take `imageConfig.imageSize`; the 2.x ones only make ~1K images. */
export function geminiSizeSpec(model: string): SizeSpec {
  const tiers = model.startsWith('gemini-3')
    ? [
        { name: '1K', maxEdge: 1024 },
        { name: '2K', maxEdge: 2048 },
        { name: '4K', maxEdge: 4096 },
      ]
    : [{ name: '1K', maxEdge: 1024 }];
  return { kind: 'tier', tiers, ratios: geminiAspectRatios };
}

export function createGeminiImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const sizeSpec = geminiSizeSpec(modelId);
  const takesImageSize = sizeSpec.kind === 'tier' && sizeSpec.tiers.length > 1;

  async function call(options: ImageCallOptions): Promise<ImageCallResult> {
    const warnings: ProviderWarning[] = unsupportedOptionWarnings(options, 'Gemini');
    const size = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, sizeSpec);
    warnings.push(...size.warnings);
    if (size.value.kind !== 'tier') throw new Error('a tier size spec maps to a tier');

    const imageConfig: Record<string, unknown> = { aspectRatio: size.value.aspectRatio };
    if (takesImageSize) imageConfig['imageSize'] = size.value.tier;
    const generationConfig: Record<string, unknown> = { responseModalities: ['TEXT', 'IMAGE'], imageConfig };
    if (options.seed !== undefined) {
      const seed = options.seed % (largestSeed + 1);
      generationConfig['seed'] = seed;
      if (seed !== options.seed) warnings.push({ type: 'mapped', param: 'seed', message: `Gemini seeds are at most ${largestSeed}; sent ${seed}.` });
    }

    const parts: Record<string, unknown>[] = [{ text: options.prompt }];
    for (const image of options.images) parts.push({ inlineData: await inlineImage(image) });
    if (options.mask !== undefined) {
      warnings.push({ type: 'unsupported', param: 'mask', message: 'Gemini edits follow the prompt and take no mask; the mask was not sent.' });
    }

    const body = mergeProviderOptions({ contents: [{ role: 'user', parts }], generationConfig }, options.providerOptions);
    const response = await postToGoogle(settings, `/models/${encodeURIComponent(modelId)}:generateContent`, body, options);
    const parsed = parseGenerateContentResponse(response.body);

    if (parsed.blockReason !== undefined) {
      throw moderationError({ provider: googleProviderName, model: modelId, stage: 'input', reasons: [parsed.blockReason] });
    }
    const candidate = parsed.candidates[0];
    if (candidate === undefined) {
      throw new GatewayError('upstream_error', 'google answered without a candidate or a block reason; no image was generated.', { retryable: false });
    }
    if (candidate.finishReason !== undefined && outputModerationReasons.has(candidate.finishReason) && candidate.images.length === 0) {
      throw moderationError({ provider: googleProviderName, model: modelId, stage: 'output', reasons: [candidate.finishReason] });
    }
    if (candidate.images.length === 0) throw noImageError(candidate, [settings.apiKey]);

    const result: ImageCallResult = {
      // One image per call: Gemini rarely sends more than one, and the core asked for exactly one.
      images: candidate.images.slice(0, Math.max(1, options.n)).map((image) => ({ kind: 'bytes', data: image.data, mediaType: image.mimeType })),
      warnings,
    };
    if (parsed.usage !== undefined) {
      result.usage = {
        inputTokens: parsed.usage.promptTokenCount,
        outputTokens: parsed.usage.candidatesTokenCount,
        ...(parsed.usage.textPromptTokens === undefined ? {} : { inputTextTokens: parsed.usage.textPromptTokens }),
        ...(parsed.usage.imagePromptTokens === undefined ? {} : { inputImageTokens: parsed.usage.imagePromptTokens }),
      };
    }
    if (parsed.responseId !== undefined) result.upstreamRequestId = parsed.responseId;
    return result;
  }

  return {
    specificationVersion: 'v1',
    provider: googleProviderName,
    modelId,
    maxImagesPerCall: 1,
    operations: ['generate', 'edit'],
    generate: call,
    edit: call,
  };
}

/** Gemini reads PNG, JPEG and WebP (and HEIC); a GIF is sent as a PNG of its first frame. */
async function inlineImage(image: InputImage): Promise<{ mimeType: string; data: string }> {
  if (image.mediaType === 'image/gif') {
    const png = await sharp(image.data).png().toBuffer();
    return { mimeType: 'image/png', data: png.toString('base64') };
  }
  return { mimeType: image.mediaType, data: image.data.toString('base64') };
}

/** The model answered (in prose, or with NO_IMAGE …) but made no picture; asking again the same way rarely helps. */
function noImageError(candidate: GeminiCandidate, secrets: string[]): GatewayError {
  const reason = candidate.finishReason ?? 'no finish reason';
  const text = sanitizeUpstreamMessage(candidate.text, secrets);
  const said = text === '' ? '' : ` It replied: "${text.slice(0, 200)}${text.length > 200 ? '…' : ''}"`;
  return new GatewayError('upstream_error', `google generated no image (finish reason ${reason}).${said}`, { retryable: false });
}
