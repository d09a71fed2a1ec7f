// The Google provider: Gemini's native image models and Imagen on the Gemini API, from one channel's settings.

import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createGeminiImageModel } from './gemini-image-model.js';
import { createImagenImageModel } from './imagen-image-model.js';

export { googleDefaultBaseURL } from './request.js';
export { geminiAspectRatios, geminiSizeSpec } from './gemini-image-model.js';
export { imagenAspectRatios, imagenMaxImagesPerCall, imagenSizeSpec } from './imagen-image-model.js';

/**
 * `settings.baseURL` defaults to https://generativelanguage.googleapis.com/v1beta when empty; the key
 * goes in `x-goog-api-key`. Upstream names starting with `imagen-` use Imagen's `:predict`; every
 * other name (`gemini-2.5-flash-image`, `gemini-3-pro-image-preview` …) uses `:generateContent`.
 */
export function createGoogleProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => {
    // Google's own listings spell names `models/<name>`; the path adds that prefix itself.
    const name = upstreamModel.replace(/^models\//, '');
    return isImagenModel(name) ? createImagenImageModel(settings, name) : createGeminiImageModel(settings, name);
  };
}

export function isImagenModel(upstreamModel: string): boolean {
  return upstreamModel.startsWith('imagen-');
}
