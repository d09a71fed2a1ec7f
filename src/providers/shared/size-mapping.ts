// The one place that turns the gateway's resolved size and aspect ratio into a provider's way of expressing size.

import { GatewayError } from '../../core/errors.js';
import type { PixelSize, ProviderWarning } from '../../core/ports/image-model.js';

/** How a provider (or one of its models) takes a size. */
export type SizeSpec =
  /** Free width and height: each a multiple of `multiple` within [minEdge, maxEdge], optionally bounded in area. */
  | { kind: 'pixels'; multiple: number; minEdge: number; maxEdge: number; maxPixels?: number; minPixels?: number }
  /** Only an aspect ratio from a list (`W:H`); the provider picks the pixels. */
  | { kind: 'aspect_ratio'; ratios: readonly string[] }
  /** Named presets, each a fixed size (fal's `square_hd` …). */
  | { kind: 'preset'; presets: Readonly<Record<string, PixelSize>> }
  /**
   * A resolution tier (`1K`, `2K` …, ordered small to large) plus an aspect ratio. A tier is named by
   * the edge of its square image; at other ratios it keeps about the same pixel count (Gemini's 1K
   * at 16:9 is 1376x768), so tiers are compared by area, not by edge.
   */
  | { kind: 'tier'; tiers: readonly { name: string; maxEdge: number }[]; ratios: readonly string[] }
  /** A fixed list of `WxH` sizes (DALL·E); mapped to `pixels`. Entries that are not `WxH` (e.g. `auto`) are ignored. */
  | { kind: 'enumerated'; sizes: readonly string[] };

export type MappedSize =
  | { kind: 'pixels'; width: number; height: number }
  | { kind: 'aspect_ratio'; aspectRatio: string }
  | { kind: 'preset'; preset: string }
  | { kind: 'tier'; tier: string; aspectRatio: string };

export interface SizeMappingInput {
  size: PixelSize;
  /** `W:H`, as the gateway resolved it from `aspect_ratio` or from `size`. */
  aspectRatio: string;
}

/** Reads `W:H` (positive numbers, decimals allowed, e.g. `1.91:1`). */
export function parseAspectRatio(text: string): { width: number; height: number } {
  const match = /^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$/.exec(text);
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  if (match === null || !(width > 0) || !(height > 0)) {
    throw new GatewayError('invalid_value', `Invalid aspect ratio ${JSON.stringify(text)}: expected the form W:H, e.g. '16:9'.`, {
      param: 'aspect_ratio',
    });
  }
  return { width, height };
}

/** Distance between two shapes, measured in log space so 2:1 and 1:2 are equally far from 1:1. */
function ratioDistance(a: PixelSize, b: PixelSize): number {
  return Math.abs(Math.log(a.width / a.height) - Math.log(b.width / b.height));
}

function areaDistance(a: PixelSize, b: PixelSize): number {
  return Math.abs(Math.log((a.width * a.height) / (b.width * b.height)));
}

/** The ratio from `ratios` closest to the shape of `size` (first listed wins a tie). */
export function nearestAspectRatio(size: PixelSize, ratios: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const ratio of ratios) {
    const distance = ratioDistance(size, parseAspectRatio(ratio));
    if (distance < bestDistance - 1e-12) {
      best = ratio;
      bestDistance = distance;
    }
  }
  if (best === undefined) throw new Error('nearestAspectRatio needs at least one ratio');
  return best;
}

export function mapSize(input: SizeMappingInput, spec: SizeSpec): { value: MappedSize; warnings: ProviderWarning[] } {
  const asked = `${input.size.width}x${input.size.height}`;
  switch (spec.kind) {
    case 'pixels': {
      const { width, height } = fitPixels(input.size, spec);
      const exact = width === input.size.width && height === input.size.height;
      return {
        value: { kind: 'pixels', width, height },
        warnings: exact ? [] : [mapped(`size ${asked} is not available for this model; using ${width}x${height}.`)],
      };
    }
    case 'aspect_ratio': {
      const { ratio, exact } = chooseRatio(input.aspectRatio, spec.ratios);
      return {
        value: { kind: 'aspect_ratio', aspectRatio: ratio },
        warnings: exact ? [] : [mapped(`size ${asked} (aspect ratio ${input.aspectRatio}) is not available for this model; using aspect ratio ${ratio}.`)],
      };
    }
    case 'preset': {
      const entries = Object.entries(spec.presets).map(([name, size]) => ({ name, size }));
      const exactPreset = entries.find((entry) => entry.size.width === input.size.width && entry.size.height === input.size.height);
      if (exactPreset !== undefined) return { value: { kind: 'preset', preset: exactPreset.name }, warnings: [] };
      const chosen = nearestByShapeThenArea(input.size, entries);
      return {
        value: { kind: 'preset', preset: chosen.name },
        warnings: [mapped(`size ${asked} is not available for this model; using ${chosen.name} (${chosen.size.width}x${chosen.size.height}).`)],
      };
    }
    case 'tier': {
      const { ratio, exact } = chooseRatio(input.aspectRatio, spec.ratios);
      const askedPixels = input.size.width * input.size.height;
      // The smallest tier that still reaches the asked pixels (within the slack); the largest when none does.
      const tier = spec.tiers.find((candidate) => candidate.maxEdge ** 2 * tierAreaSlack >= askedPixels) ?? spec.tiers.at(-1);
      if (tier === undefined) throw new Error('a tier SizeSpec needs at least one tier');
      const warnings: ProviderWarning[] = [];
      const sameArea = Math.abs(Math.log(askedPixels / tier.maxEdge ** 2)) <= Math.log(tierAreaSlack);
      if (!exact || !sameArea) {
        warnings.push(mapped(`size ${asked} (${input.aspectRatio}) is not available for this model; using the ${tier.name} tier at ${ratio}.`));
      }
      return { value: { kind: 'tier', tier: tier.name, aspectRatio: ratio }, warnings };
    }
    case 'enumerated': {
      const entries = enumeratedEntries(spec.sizes);
      if (entries.length === 0) throw new Error('an enumerated SizeSpec needs at least one WxH size');
      const chosen = entries.find((entry) => entry.name === asked) ?? nearestByShapeThenArea(input.size, entries);
      return {
        value: { kind: 'pixels', width: chosen.size.width, height: chosen.size.height },
        warnings: chosen.name === asked ? [] : [mapped(`size ${asked} is not available for this model; using ${chosen.name}.`)],
      };
    }
  }
}

/**
 * How far a size may be from a tier's square area and still count as that tier: the tiers' own
 * sizes at other ratios differ by a few percent (1376x768 is 0.8% over 1 MP, 1584x672 1.5%).
 */
const tierAreaSlack = 1.1;

interface SizeEntry {
  readonly name: string;
  readonly size: Readonly<PixelSize>;
}

// A model's size list is parsed once, not on every call (a regex match and three objects per listed
// size per request on the DALL·E path). Keyed by the spec's own array, which lives as long as the spec.
const parsedSizeLists = new WeakMap<readonly string[], readonly SizeEntry[]>();

function enumeratedEntries(sizes: readonly string[]): readonly SizeEntry[] {
  let entries = parsedSizeLists.get(sizes);
  if (entries === undefined) {
    entries = sizes.flatMap((text) => {
      const match = /^(\d+)x(\d+)$/.exec(text);
      return match === null ? [] : [{ name: text, size: { width: Number(match[1]), height: Number(match[2]) } }];
    });
    parsedSizeLists.set(sizes, entries);
  }
  return entries;
}

function mapped(message: string): ProviderWarning {
  return { type: 'mapped', param: 'size', message };
}

/** The listed ratio equal in value to the asked one (no warning), else the nearest in shape. */
function chooseRatio(asked: string, ratios: readonly string[]): { ratio: string; exact: boolean } {
  const askedShape = parseAspectRatio(asked);
  const equal = ratios.find((ratio) => ratioDistance(askedShape, parseAspectRatio(ratio)) < 1e-9);
  if (equal !== undefined) return { ratio: equal, exact: true };
  return { ratio: nearestAspectRatio(askedShape, ratios), exact: false };
}

/** Closest shape first (a wrong shape distorts or crops), then closest area. */
function nearestByShapeThenArea<T extends { size: PixelSize }>(size: PixelSize, entries: readonly T[]): T {
  let best: T | undefined;
  for (const entry of entries) {
    if (best === undefined) {
      best = entry;
      continue;
    }
    const shapeDifference = ratioDistance(size, entry.size) - ratioDistance(size, best.size);
    if (shapeDifference < -1e-9 || (Math.abs(shapeDifference) <= 1e-9 && areaDistance(size, entry.size) < areaDistance(size, best.size))) {
      best = entry;
    }
  }
  if (best === undefined) throw new Error('nothing to choose a size from');
  return best;
}

/**
 * The allowed width×height closest to the asked size: first scaled (keeping the shape) into the
 * edge and area bounds, then the grid point nearest to that ideal, each edge measured in log space.
 * When no shape-keeping scale fits (e.g. 4096x256 with a 256–1440 range) the edges are clamped on their own.
 */
function fitPixels(size: PixelSize, spec: Extract<SizeSpec, { kind: 'pixels' }>): PixelSize {
  const { multiple } = spec;
  const smallestEdge = Math.ceil(spec.minEdge / multiple) * multiple;
  const largestEdge = Math.floor(spec.maxEdge / multiple) * multiple;
  if (smallestEdge > largestEdge) throw new Error(`pixels SizeSpec has no multiple of ${multiple} within ${spec.minEdge}-${spec.maxEdge}`);

  let scale = 1;
  scale = Math.min(scale, spec.maxEdge / size.width, spec.maxEdge / size.height);
  if (spec.maxPixels !== undefined) scale = Math.min(scale, Math.sqrt(spec.maxPixels / (size.width * size.height)));
  let grow = Math.max(spec.minEdge / (size.width * scale), spec.minEdge / (size.height * scale), 1);
  if (spec.minPixels !== undefined) grow = Math.max(grow, Math.sqrt(spec.minPixels / (size.width * size.height * scale * scale)));
  scale *= grow;
  const idealWidth = clamp(size.width * scale, spec.minEdge, spec.maxEdge);
  const idealHeight = clamp(size.height * scale, spec.minEdge, spec.maxEdge);

  let best: PixelSize | undefined;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let width = smallestEdge; width <= largestEdge; width += multiple) {
    // For each width, only the two grid heights around the ideal (after area limits) can be best.
    let highestHeight = largestEdge;
    let lowestHeight = smallestEdge;
    if (spec.maxPixels !== undefined) highestHeight = Math.min(highestHeight, Math.floor(spec.maxPixels / width / multiple) * multiple);
    if (spec.minPixels !== undefined) lowestHeight = Math.max(lowestHeight, Math.ceil(spec.minPixels / width / multiple) * multiple);
    if (lowestHeight > highestHeight) continue;
    const nearHeight = clamp(idealHeight, lowestHeight, highestHeight);
    for (const height of new Set([
      clamp(Math.floor(nearHeight / multiple) * multiple, lowestHeight, highestHeight),
      clamp(Math.ceil(nearHeight / multiple) * multiple, lowestHeight, highestHeight),
    ])) {
      const cost = Math.log(width / idealWidth) ** 2 + Math.log(height / idealHeight) ** 2;
      if (cost < bestCost - 1e-12) {
        best = { width, height };
        bestCost = cost;
      }
    }
  }
  if (best === undefined) throw new Error('pixels SizeSpec admits no size at all');
  return best;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}
