// Imagen (`imagen-4.0-generate-001` …) through `:predict`: up to four images per call, five aspect
// ratios, a 1K/2K tier on the standard and ultra Imagen 4 models; filtered images simply go missing.

import type { ImageCallOptions, ImageCallResult, ImageModel, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { ProviderSettings } from '../shared/types.js';
import { moderationError } from '../shared/upstream-errors.js';
import { isPlainObject, mergeProviderOptions, postToGoogle, unsupportedOptionWarnings } from './request.js';
import { googleProviderName, parsePredictResponse } from './wire.js';

export const imagenAspectRatios = ['1:1', '3:4', '4:3', '9:16', '16:9'] as const;
export const imagenMaxImagesPerCall = 4;

/** `sampleImageSize` exists on Imagen 4 standard and ultra; fast and Imagen 3 make 1K only. */
export function imagenSizeSpec(model: string): SizeSpec {
  const tiers =
    model.startsWith('imagen-4') && !model.includes('fast')
      ? [
          { name: '1K', maxEdge: 1024 },
          { name: '2K', maxEdge: 2048 },
        ]
      : [{ name: '1K', maxEdge: 1024 }];
  return { kind: 'tier', tiers, ratios: imagenAspectRatios };
}

/** Fields of a predict body; any other provider option belongs inside `parameters`. */
const topLevelFields = new Set(['instances', 'parameters']);

export function createImagenImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const sizeSpec = imagenSizeSpec(modelId);
  const takesImageSize = sizeSpec.kind === 'tier' && sizeSpec.tiers.length > 1;

  async function generate(options: ImageCallOptions): Promise<ImageCallResult> {
    const warnings: ProviderWarning[] = unsupportedOptionWarnings(options, 'Imagen');
    const size = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, sizeSpec);
    warnings.push(...size.warnings);
    if (size.value.kind !== 'tier') throw new Error('a tier size spec maps to a tier');
    const sampleCount = Math.min(imagenMaxImagesPerCall, Math.max(1, options.n));

    const parameters: Record<string, unknown> = { sampleCount, aspectRatio: size.value.aspectRatio };
    if (takesImageSize) parameters['sampleImageSize'] = size.value.tier;
    // Imagen writes PNG or JPEG; WebP is asked as PNG and the core converts it.
    if (options.outputFormat === 'jpeg') {
      parameters['outputOptions'] = { mimeType: 'image/jpeg', ...(options.outputCompression === undefined ? {} : { compressionQuality: options.outputCompression }) };
    } else {
      parameters['outputOptions'] = { mimeType: 'image/png' };
    }
    if (options.seed !== undefined) {
      warnings.push({ type: 'unsupported', param: 'seed', message: 'Imagen on the Gemini API takes no seed; not sent.' });
    }

    const inParameters: Record<string, unknown> = {};
    const atTopLevel: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options.providerOptions)) {
      if (topLevelFields.has(key)) atTopLevel[key] = value;
      else inParameters[key] = value;
    }
    const mergedParameters = mergeProviderOptions(parameters, inParameters);
    const body = mergeProviderOptions({ instances: [{ prompt: options.prompt }], parameters: mergedParameters }, atTopLevel);
    const response = await postToGoogle(settings, `/models/${encodeURIComponent(modelId)}:predict`, body, options);
    const predictions = parsePredictResponse(response.body);

    const images: ProviderImage[] = [];
    const filterReasons: string[] = [];
    for (const prediction of predictions) {
      if (prediction.image !== undefined) images.push({ kind: 'bytes', data: prediction.image.data, ...(prediction.image.mimeType ? { mediaType: prediction.image.mimeType } : {}) });
      else if (prediction.raiFilteredReason !== undefined) filterReasons.push(prediction.raiFilteredReason);
    }
    const asked = isPlainObject(body['parameters']) && typeof body['parameters']['sampleCount'] === 'number' ? body['parameters']['sampleCount'] : sampleCount;
    if (images.length === 0) {
      throw moderationError({ provider: googleProviderName, model: modelId, stage: 'output', reasons: filterReasons });
    }
    if (images.length < asked) {
      const why = filterReasons.length === 0 ? '' : ` (${filterReasons[0]})`;
      warnings.push({
        type: 'other',
        param: 'n',
        message: `google returned ${images.length} of ${asked} images; its safety filter removed the others${why}.`,
      });
    }
    return { images: images.slice(0, sampleCount), warnings };
  }

  return {
    specificationVersion: 'v1',
    provider: googleProviderName,
    modelId,
    maxImagesPerCall: imagenMaxImagesPerCall,
    operations: ['generate'],
    generate,
  };
}
