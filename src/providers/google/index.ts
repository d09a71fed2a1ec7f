// The Google provider: Gemini's native image models on the Gemini API, from one channel's settings.

import { GatewayError } from '../../core/errors.js';
import type { ImageModelFactory } from '../../core/ports/image-model.js';
import type { ProviderSettings } from '../shared/types.js';
import { createGeminiImageModel } from './gemini-image-model.js';

export { googleDefaultBaseURL } from './request.js';
export { geminiAspectRatios, geminiSizeSpec } from './gemini-image-model.js';

/**
 * `settings.baseURL` defaults to https://generativelanguage.googleapis.com/v1beta when empty; the key
 * goes in `x-goog-api-key`. Every name (`gemini-3-pro-image` …) uses `:generateContent`.
 *
 * Imagen is gone from the Gemini API: Google discontinued the Imagen 4 endpoints on 2026-08-17
 * (imagen-4.0-generate-001, -ultra-, -fast-: "After that date those model IDs return 404"), and
 * googleapis/js-genai dropped `generateImages` for the Gemini API. A channel naming an `imagen-*`
 * upstream model is refused when it is built, with that reason; the catalog serves Imagen requests
 * from its Gemini successor instead (catalog/models.yaml, `retired`).
 */
export function createGoogleProvider(settings: ProviderSettings): ImageModelFactory {
  return (upstreamModel) => {
    // Google's own listings spell names `models/<name>`; the path adds that prefix itself.
    const name = upstreamModel.replace(/^models\//, '');
    if (isImagenModel(name)) {
      throw new GatewayError(
        'model_not_found',
        `The Gemini API no longer serves '${name}': Google shut Imagen down there on 2026-08-17. Serve the Imagen catalog names from a Gemini image model (the catalog does so by default) instead of mapping them to '${name}'.`,
        { param: 'model' },
      );
    }
    return createGeminiImageModel(settings, name);
  };
}

export function isImagenModel(upstreamModel: string): boolean {
  return upstreamModel.startsWith('imagen-');
}
