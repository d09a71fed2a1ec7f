// The built-in offline engine as a provider: serves every catalog model with real, deterministic
// pictures when no upstream is configured, so newcomers, client CI and our own tests need no key.

import sharp from 'sharp';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageModelFactory, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import { GatewayError } from '../../core/errors.js';
import { maxEditImages, renderEdit, renderVariation } from './edit.js';
import { renderPreview } from './partials.js';
import { describePalette, renderScene } from './render.js';

export interface OfflineProviderOptions {
  /** Simulated latency before each call renders, to exercise timeouts and cancellation; 0 by default. */
  latencyMs?: number;
}

export const offlineMaxImagesPerCall = 10;
/** OpenAI's limit for `partial_images`. */
const maxPartialImages = 3;

const mediaTypes = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', svg: 'image/svg+xml' } as const;

/** Rejects with the signal's reason, like fetch does, so callers treat our abort like an upstream one. */
function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Options the engine accepts but cannot act on; said once each, and only when the caller set them. */
function ignoredOptionWarnings(options: ImageCallOptions): ProviderWarning[] {
  const warnings: ProviderWarning[] = [];
  const ignored = [
    ['quality', options.quality, 'renders the same picture at every quality'],
    ['style', options.style, 'has a single drawing style'],
    ['moderation', options.moderation, 'does not moderate prompts or images'],
  ] as const;
  for (const [param, value, reason] of ignored) {
    if (value !== undefined) warnings.push({ type: 'other', param, message: `offline engine ignores ${param} '${value}': it ${reason}.` });
  }
  const unknown = Object.entries(options.providerOptions)
    .filter(([, value]) => value !== undefined)
    .map(([name]) => name);
  if (unknown.length > 0) {
    warnings.push({ type: 'unsupported', message: `offline engine ignores provider options it does not know: ${unknown.join(', ')}.` });
  }
  return warnings;
}

/** dall-e-3 clients read `revised_prompt`; the engine answers with a fixed rewrite naming the palette it used. */
function revisedPromptFor(options: ImageCallOptions): string | undefined {
  if (!options.model.startsWith('dall-e-3')) return undefined;
  return `A layered landscape illustration in ${describePalette(options.prompt)} tones, inspired by: ${options.prompt}`;
}

/** Previews to render: OpenAI's `partial_images` (0-3), and none when nobody listens for them. */
function previewsWanted(options: ImageCallOptions): number {
  if (options.onPartialImage === undefined) return 0;
  const wanted = options.partialImages ?? 0;
  if (!Number.isInteger(wanted) || wanted < 0 || wanted > maxPartialImages) {
    throw new GatewayError('invalid_value', `Invalid value for 'partial_images': ${wanted}. It must be between 0 and ${maxPartialImages}.`, { param: 'partial_images' });
  }
  return wanted;
}

function checkCount(options: ImageCallOptions): void {
  if (!Number.isInteger(options.n) || options.n < 1 || options.n > offlineMaxImagesPerCall) {
    throw new GatewayError('invalid_value', `Invalid value for 'n': ${options.n}. The offline engine renders 1 to ${offlineMaxImagesPerCall} images per call.`, { param: 'n' });
  }
}

export function createOfflineProvider(providerOptions: OfflineProviderOptions = {}): ImageModelFactory {
  const latencyMs = providerOptions.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) throw new RangeError(`offline provider: latencyMs must be a non-negative number, got ${latencyMs}`);

  /**
   * The shared shape of every operation: abort checks, latency, n renders in parallel, progress,
   * and the previews a stream asked for, each derived from the finished picture.
   */
  async function run(options: ImageCallOptions, render: (seed: number) => Promise<Buffer>, warnings: ProviderWarning[], revisedPrompt?: string): Promise<ImageCallResult> {
    const { abortSignal } = options;
    abortSignal.throwIfAborted();
    checkCount(options);
    const previews = previewsWanted(options);
    // The latency is spread over the previews, so they arrive one after another as an upstream's do.
    const pause = latencyMs / (previews + 1);
    if (previews === 0 && latencyMs > 0) await sleep(latencyMs, abortSignal);
    const firstSeed = options.seed ?? 0;
    let finished = 0;
    const finals = await Promise.all(
      Array.from({ length: options.n }, async (_, index): Promise<Buffer> => {
        const data = await render(firstSeed + index);
        if (previews === 0) {
          finished += 1;
          options.onProgress?.(Math.round((finished / options.n) * 100));
        }
        return data;
      }),
    );
    for (let step = 0; step < previews; step += 1) {
      if (pause > 0) await sleep(pause, abortSignal);
      abortSignal.throwIfAborted();
      const rendered = await Promise.all(
        finals.map((final) => renderPreview({ final, step, steps: previews, format: options.outputFormat, compression: options.outputCompression })),
      );
      abortSignal.throwIfAborted();
      rendered.forEach((data, index) => options.onPartialImage?.({ index, partialImageIndex: step, data }));
      options.onProgress?.(Math.round(((step + 1) / (previews + 1)) * 100));
    }
    if (previews > 0) {
      if (pause > 0) await sleep(pause, abortSignal);
      options.onProgress?.(100);
    }
    // Rendering cannot be interrupted midway; a caller that left meanwhile still gets its abort.
    abortSignal.throwIfAborted();
    const mediaType = mediaTypes[options.outputFormat];
    const images = finals.map((data): ProviderImage => (revisedPrompt === undefined ? { kind: 'bytes', data, mediaType } : { kind: 'bytes', data, mediaType, revisedPrompt }));
    return { images, warnings };
  }

  return (upstreamModel: string): ImageModel => ({
    specificationVersion: 'v1',
    provider: 'offline',
    modelId: upstreamModel,
    maxImagesPerCall: offlineMaxImagesPerCall,
    operations: ['generate', 'edit', 'variation'],

    generate(options) {
      const common = { prompt: options.prompt, width: options.size.width, height: options.size.height, background: options.background ?? 'auto', format: options.outputFormat, compression: options.outputCompression };
      return run(options, (seed) => renderScene({ ...common, seed }), ignoredOptionWarnings(options), revisedPromptFor(options));
    },

    async edit(options) {
      options.abortSignal.throwIfAborted();
      if (options.images.length === 0) throw new GatewayError('missing_required_parameter', "Missing required parameter: 'image'.", { param: 'image' });
      if (options.images.length > maxEditImages) {
        throw new GatewayError('invalid_value', `Invalid value for 'image': ${options.images.length} images were sent; at most ${maxEditImages} are accepted.`, { param: 'image' });
      }
      const warnings = ignoredOptionWarnings(options);
      if (options.mask !== undefined) {
        const maskMetadata = await sharp(options.mask.data).metadata().catch((error: unknown) => {
          throw new GatewayError('invalid_image', "Invalid image in 'mask': it could not be decoded.", { param: 'mask', cause: error });
        });
        // OpenAI marks the area to edit with transparency; a mask without alpha marks nothing.
        if (!maskMetadata.hasAlpha) warnings.push({ type: 'other', param: 'mask', message: 'mask has no alpha channel, so no area is marked for editing; the image is returned unchanged.' });
      }
      const common = {
        prompt: options.prompt,
        width: options.size.width,
        height: options.size.height,
        background: options.background ?? 'auto',
        format: options.outputFormat,
        compression: options.outputCompression,
        images: options.images,
        mask: options.mask,
      };
      return run(options, (seed) => renderEdit({ ...common, seed }), warnings, revisedPromptFor(options));
    },

    variation(options) {
      const [image] = options.images;
      if (image === undefined) return Promise.reject(new GatewayError('missing_required_parameter', "Missing required parameter: 'image'.", { param: 'image' }));
      const common = { image, width: options.size.width, height: options.size.height, background: options.background ?? 'auto', format: options.outputFormat, compression: options.outputCompression };
      return run(options, (seed) => renderVariation({ ...common, seed }), ignoredOptionWarnings(options));
    },
  });
}
