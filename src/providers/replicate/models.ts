// What each Replicate model takes, from its OpenAPI input schema (replicate.com/<owner>/<name>/api,
// the "Input schema" of the latest version): how it takes a size, which output formats it renders,
// whether it takes output_quality and num_outputs. Unknown models get the FLUX schnell shape.

export type ReplicateOutputFormat = 'webp' | 'jpg' | 'png';

export type ReplicateSizeInput =
  /** `aspect_ratio` from a list; the model picks the pixels (about `megapixels`). */
  | { kind: 'ratio'; ratios: readonly string[]; megapixels: number }
  /** `aspect_ratio` from a list plus `megapixels` from a list (FLUX schnell/dev). */
  | { kind: 'ratio_megapixels'; ratios: readonly string[]; megapixels: readonly string[] }
  /** `aspect_ratio: "custom"` with exact `width`/`height` (multiples of `multiple`, within the bounds). */
  | { kind: 'custom_pixels'; ratios: readonly string[]; multiple: number; minEdge: number; maxEdge: number };

export interface ReplicateModelSchema {
  size: ReplicateSizeInput;
  outputFormats: readonly ReplicateOutputFormat[];
  /** `output_quality` (0–100, jpg/webp). */
  outputQuality: boolean;
  /** `num_outputs` 1–4. */
  numOutputs: boolean;
  /** Where the schema was read. */
  source: string;
}

const fluxOneRatios = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const;

/**
 * black-forest-labs/flux-schnell and flux-dev: "aspect_ratio … 1:1, 16:9, 21:9, 3:2, 2:3, 4:5, 5:4,
 * 3:4, 4:3, 9:16, 9:21", "megapixels: 1, 0.25", "num_outputs 1–4", "output_format webp, jpg, png",
 * "output_quality 0–100".
 */
const fluxOneSchema = (name: string): ReplicateModelSchema => ({
  size: { kind: 'ratio_megapixels', ratios: fluxOneRatios, megapixels: ['1', '0.25'] },
  outputFormats: ['webp', 'jpg', 'png'],
  outputQuality: true,
  numOutputs: true,
  source: `https://replicate.com/black-forest-labs/${name}/api`,
});

export const replicateModelSchemas: Readonly<Record<string, ReplicateModelSchema>> = {
  'black-forest-labs/flux-schnell': fluxOneSchema('flux-schnell'),
  'black-forest-labs/flux-dev': fluxOneSchema('flux-dev'),
  // Version 96ccd0e7: aspect_ratio "custom, 1:1, 16:9, 3:2, 2:3, 4:5, 5:4, 9:16, 3:4, 4:3" (no 21:9);
  // "width … Min: 256 Max: 1440 … Only used when aspect_ratio=custom. Must be a multiple of 32";
  // output_format default webp; output_quality 80.
  'black-forest-labs/flux-1.1-pro': {
    size: { kind: 'custom_pixels', ratios: ['1:1', '16:9', '3:2', '2:3', '4:5', '5:4', '9:16', '3:4', '4:3'], multiple: 32, minEdge: 256, maxEdge: 1440 },
    outputFormats: ['webp', 'jpg', 'png'],
    outputQuality: true,
    numOutputs: false,
    source: 'https://replicate.com/black-forest-labs/flux-1.1-pro/versions/96ccd0e758a1796926584ded2246369cdf8eb3d7c34475cf9c442be5e097d926/api',
  },
  // Version 352185db: aspect_ratio "21:9, 16:9, 3:2, 4:3, 5:4, 1:1, 4:5, 3:4, 2:3, 9:16, 9:21";
  // output_format "jpg, png" (default jpg); no output_quality; about 4 MP.
  'black-forest-labs/flux-1.1-pro-ultra': {
    size: { kind: 'ratio', ratios: ['21:9', '16:9', '3:2', '4:3', '5:4', '1:1', '4:5', '3:4', '2:3', '9:16', '9:21'], megapixels: 4 },
    outputFormats: ['jpg', 'png'],
    outputQuality: false,
    numOutputs: false,
    source: 'https://replicate.com/black-forest-labs/flux-1.1-pro-ultra/versions/352185dbc99e9dd708b78b4e6870e3ca49d00dc6451a32fc6dd57968194fae5a/api',
  },
  // Version 0a138193: aspect_ratio default "match_input_image"; output_format default png, "jpg, png";
  // no output_quality. The ratio list is Replicate's Kontext enum (match_input_image and 1:1 … 21:9, 9:21, 2:1, 1:2).
  'black-forest-labs/flux-kontext-pro': {
    size: { kind: 'ratio', ratios: ['1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3', '4:5', '5:4', '21:9', '9:21', '2:1', '1:2'], megapixels: 1 },
    outputFormats: ['jpg', 'png'],
    outputQuality: false,
    numOutputs: false,
    source: 'https://replicate.com/black-forest-labs/flux-kontext-pro/versions/0a1381936934845a14efcc9f309ce7d031cb905867878b5c5830280e00e97606/api',
  },
  'black-forest-labs/flux-kontext-max': {
    size: { kind: 'ratio', ratios: ['1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3', '4:5', '5:4', '21:9', '9:21', '2:1', '1:2'], megapixels: 1 },
    outputFormats: ['jpg', 'png'],
    outputQuality: false,
    numOutputs: false,
    source: 'https://replicate.com/black-forest-labs/flux-kontext-max/api',
  },
};

/** A model's schema; models the table does not know are taken to have FLUX schnell's inputs. */
export function replicateModelSchema(modelName: string): ReplicateModelSchema {
  return replicateModelSchemas[modelName] ?? { ...fluxOneSchema('flux-schnell'), numOutputs: false, source: 'assumed: FLUX schnell inputs' };
}
