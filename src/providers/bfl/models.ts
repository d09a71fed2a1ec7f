// BFL's model catalogue: which endpoint each model name calls, how that model takes a size, and how many input images it edits with.

import { GatewayError } from '../../core/errors.js';
import type { SizeSpec } from '../shared/size-mapping.js';

/** FLUX model families differ in how they take a size and which fields they accept. */
export type BflFamily = 'classic' | 'flux2' | 'ultra' | 'kontext';

export interface BflModelProfile {
  /** Path segment after /v1/, as BFL spells it. */
  endpoint: string;
  family: BflFamily;
  sizeSpec: SizeSpec;
  /** Input images an edit may send (input_image, input_image_2 …); 0 for text-to-image-only models. */
  maxInputImages: number;
  /** Pixels the model renders by itself for aspect-ratio families (used to tell the client its size was not honoured). */
  nativePixels?: number;
}

/** Gateway catalogue names whose BFL endpoint is spelled differently. */
const endpointOfCatalogName: Readonly<Record<string, string>> = {
  'flux-1.1-pro': 'flux-pro-1.1',
  'flux-1.1-pro-ultra': 'flux-pro-1.1-ultra',
};

/** BFL takes any ratio from 21:9 to 9:21; these are offered when the asked one is outside or not in W:H integers. */
const commonRatios = ['21:9', '2:1', '16:9', '7:4', '3:2', '4:3', '5:4', '1:1', '4:5', '3:4', '2:3', '4:7', '9:16', '1:2', '9:21'] as const;

const classicSize: SizeSpec = { kind: 'pixels', multiple: 32, minEdge: 256, maxEdge: 1440 };
/** FLUX.2: multiples of 16, at least 64, at most 4 MP (2048 × 2048) in all. */
const flux2Size: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 64, maxEdge: 4096, maxPixels: 2048 * 2048 };

/**
 * Reference images (`input_image`, `input_image_2` …) per FLUX.2 endpoint, from the official SDK's
 * catalogue (black-forest-labs/blackforest, src/bfl/_catalog.py, `max_reference_images`): pro, max
 * and flex 8, klein 9B 5, klein 4B 4.
 */
const flux2ReferenceSlots: Readonly<Record<string, number>> = {
  'flux-2-pro': 8,
  'flux-2-max': 8,
  'flux-2-flex': 8,
  'flux-2-klein-9b': 5,
  'flux-2-klein-4b': 4,
};

/** Widest and tallest ratios BFL accepts for `aspect_ratio`. */
const widestRatio = 21 / 9;
const tallestRatio = 9 / 21;

/** Resolves a catalogue or BFL model name to its endpoint and rules. */
export function bflModelProfile(modelName: string): BflModelProfile {
  const endpoint = endpointOfCatalogName[modelName] ?? modelName;
  // The name becomes a URL path segment: refuse anything that could step out of /v1/.
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(endpoint) || endpoint.includes('..')) {
    throw new GatewayError('model_not_found', `'${modelName}' is not a valid BFL model name`, { param: 'model' });
  }
  const family = familyOf(endpoint);
  switch (family) {
    case 'classic':
      return { endpoint, family, sizeSpec: classicSize, maxInputImages: 0 };
    case 'flux2':
      return { endpoint, family, sizeSpec: flux2Size, maxInputImages: flux2ReferenceSlots[endpoint] ?? 8 };
    case 'ultra':
      return { endpoint, family, sizeSpec: { kind: 'aspect_ratio', ratios: commonRatios }, maxInputImages: 0, nativePixels: 4 * 1024 * 1024 };
    case 'kontext':
      return { endpoint, family, sizeSpec: { kind: 'aspect_ratio', ratios: commonRatios }, maxInputImages: 4, nativePixels: 1024 * 1024 };
  }
}

function familyOf(endpoint: string): BflFamily {
  if (endpoint.startsWith('flux-2')) return 'flux2';
  if (endpoint.includes('kontext')) return 'kontext';
  if (endpoint.includes('ultra')) return 'ultra';
  // flux-pro-1.1, flux-pro, flux-dev and anything newer that takes width/height the same way.
  return 'classic';
}

/**
 * The ratios offered to mapSize for an aspect-ratio model: the common ones, plus the asked ratio
 * itself when BFL would accept it, so an in-range ratio is sent exactly and without a warning.
 */
export function aspectRatiosFor(askedRatio: string): readonly string[] {
  const match = /^(\d+):(\d+)$/.exec(askedRatio.trim());
  if (match === null) return commonRatios;
  const ratio = Number(match[1]) / Number(match[2]);
  if (!(ratio > 0) || ratio > widestRatio + 1e-9 || ratio < tallestRatio - 1e-9) return commonRatios;
  return [askedRatio.trim(), ...commonRatios];
}
