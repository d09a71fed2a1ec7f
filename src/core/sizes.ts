// Size and aspect-ratio resolution against a model's size spec: the one place that decides which
// pixel size a request gets, and reports every substitution as a warning.

import { GatewayError, invalidValue } from './errors.js';
import type { CatalogModel, SizeRule } from './catalog/types.js';
import type { PixelSize } from './ports/image-model.js';

/** The aspect ratios relay clients send (`aspect_ratio`), accepted for every model. */
export const relayAspectRatios = ['21:9', '16:9', '4:3', '3:2', '1:1', '2:3', '3:4', '9:16', '9:21'] as const;

/** A size string and a ratio agree when their ratios differ by less than this (1792x1024 is "16:9"). */
const ratioTolerance = 0.03;

export function parseSize(text: string): PixelSize | undefined {
  const match = /^(\d{2,5})x(\d{2,5})$/i.exec(text.trim());
  if (!match) return undefined;
  const size = { width: Number(match[1]), height: Number(match[2]) };
  // "00x00" matches the pattern but is no size; a zero edge would make every ratio NaN.
  return size.width > 0 && size.height > 0 ? size : undefined;
}

export function parseRatio(text: string): number | undefined {
  const match = /^(\d{1,3}):(\d{1,3})$/.exec(text.trim());
  if (!match) return undefined;
  const width = Number(match[1]);
  const height = Number(match[2]);
  return width > 0 && height > 0 ? width / height : undefined;
}

export const formatSize = (size: PixelSize): string => `${size.width}x${size.height}`;

/** Distance between two ratios on a log scale, so 2:1 and 1:2 are equally far from 1:1. */
const ratioDistance = (a: number, b: number): number => Math.abs(Math.log(a / b));

/** The first item nearest to `target` (ties go to the earlier one); each item's ratio computed once. */
function nearestBy<T>(items: readonly T[], ratioOf: (item: T) => number, target: number): T {
  let best = items[0] as T;
  let bestDistance = items.length > 0 ? ratioDistance(ratioOf(best), target) : Infinity;
  for (const item of items) {
    const distance = ratioDistance(ratioOf(item), target);
    if (distance < bestDistance) {
      best = item;
      bestDistance = distance;
    }
  }
  return best;
}

// Ratio strings parsed once: every request with a size names its ratio (simplifyRatio), and parsing
// the nine relay ratios twice per comparison made 18 regex matches and their arrays per request.
const parsedRatios = new Map<string, number>();
function ratioValue(text: string): number {
  let value = parsedRatios.get(text);
  if (value === undefined) {
    value = parseRatio(text) ?? 1;
    // Catalog and relay ratios are a few dozen strings; the bound only guards against an unforeseen caller.
    if (parsedRatios.size < 1024) parsedRatios.set(text, value);
  }
  return value;
}

/** The ratio string closest to a pixel size, e.g. 1792x1024 → 16:9. */
export function nearestRatioName(size: PixelSize, ratios: readonly string[]): string {
  return nearestBy(ratios, ratioValue, size.width / size.height);
}

function snap(value: number, multiple: number): number {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

/** A size of about `pixels` pixels with the given ratio, edges multiples of `multiple`, within the rule. */
export function sizeForRatio(ratio: number, pixels: number, multiple: number, rule?: SizeRule): PixelSize {
  let width = Math.sqrt(pixels * ratio);
  let height = width / ratio;
  const maxEdge = rule?.max_edge;
  if (maxEdge !== undefined && Math.max(width, height) > maxEdge) {
    const scale = maxEdge / Math.max(width, height);
    width *= scale;
    height *= scale;
  }
  const minEdge = rule?.min_edge;
  if (minEdge !== undefined && Math.min(width, height) < minEdge) {
    const scale = minEdge / Math.min(width, height);
    width = Math.min(width * scale, maxEdge ?? Infinity);
    height = Math.min(height * scale, maxEdge ?? Infinity);
  }
  const floorTo = (v: number) => Math.max(multiple, Math.floor(v / multiple) * multiple);
  let result = { width: snap(width, multiple), height: snap(height, multiple) };
  if (rule === undefined && Math.abs(result.width / result.height - ratio) >= 0.05) {
    // Rounding both edges to the grid drifted a wide ratio (20:9 at 1 MP: 1536x672 is 2.29); take the
    // grid neighbour that keeps the ratio best.
    const ceilTo = (v: number) => Math.ceil(v / multiple) * multiple;
    const candidates = [floorTo(width), ceilTo(width)].flatMap((w) => [floorTo(height), ceilTo(height)].map((h) => ({ width: w, height: h })));
    result = candidates.reduce((best, candidate) => (Math.abs(candidate.width / candidate.height - ratio) < Math.abs(best.width / best.height - ratio) ? candidate : best));
  }
  // Rounding up may cross a bound; step down to stay inside it.
  if (maxEdge !== undefined) {
    if (result.width > maxEdge) result.width = floorTo(maxEdge);
    if (result.height > maxEdge) result.height = floorTo(maxEdge);
  }
  if (rule?.max_pixels !== undefined && result.width * result.height > rule.max_pixels) {
    result.width = floorTo(width);
    result.height = floorTo(height);
  }
  return result;
}

/** Rounding to the grid can push a ratio clamped to `max_ratio` just past it; step the long edge back in. */
function fitRatioBound(size: PixelSize, rule: SizeRule): PixelSize {
  const maxRatio = rule.max_ratio;
  if (maxRatio === undefined) return size;
  const fitted = { ...size };
  const longEdge = fitted.width >= fitted.height ? 'width' : 'height';
  const shortEdge = longEdge === 'width' ? 'height' : 'width';
  while (fitted[longEdge] / fitted[shortEdge] > maxRatio && fitted[longEdge] > rule.multiple_of) fitted[longEdge] -= rule.multiple_of;
  return fitted;
}

/** Why a size breaks a rule, or undefined when it follows it. */
export function ruleViolation(size: PixelSize, rule: SizeRule): string | undefined {
  const { width, height } = size;
  if (width % rule.multiple_of !== 0 || height % rule.multiple_of !== 0) return `width and height must be multiples of ${rule.multiple_of}`;
  if (rule.min_edge !== undefined && Math.min(width, height) < rule.min_edge) return `each edge must be at least ${rule.min_edge} pixels`;
  if (rule.max_edge !== undefined && Math.max(width, height) > rule.max_edge) return `each edge must be at most ${rule.max_edge} pixels`;
  const pixels = width * height;
  if (rule.min_pixels !== undefined && pixels < rule.min_pixels) return `the image must have at least ${rule.min_pixels} pixels`;
  if (rule.max_pixels !== undefined && pixels > rule.max_pixels) return `the image must have at most ${rule.max_pixels} pixels`;
  if (rule.max_ratio !== undefined && Math.max(width, height) / Math.min(width, height) > rule.max_ratio) {
    return `the aspect ratio must be between 1:${rule.max_ratio} and ${rule.max_ratio}:1`;
  }
  return undefined;
}

export function describeRule(rule: SizeRule): string {
  const parts = [`'WIDTHxHEIGHT' with edges that are multiples of ${rule.multiple_of}`];
  if (rule.min_edge !== undefined) parts.push(`at least ${rule.min_edge}`);
  if (rule.max_edge !== undefined) parts.push(`at most ${rule.max_edge} per edge`);
  if (rule.min_pixels !== undefined || rule.max_pixels !== undefined) parts.push(`${rule.min_pixels ?? 0}..${rule.max_pixels ?? '∞'} pixels`);
  if (rule.max_ratio !== undefined) parts.push(`ratio within 1:${rule.max_ratio}..${rule.max_ratio}:1`);
  return parts.join(', ');
}

export interface ResolvedSize {
  size: PixelSize;
  /** The W:H ratio the provider should be asked for. */
  aspectRatio: string;
  warnings: string[];
}

function defaultPixels(model: CatalogModel): number {
  const spec = model.sizes;
  if ('aspect_ratios' in spec) return spec.megapixels * 1024 * 1024;
  const size = parseSize(spec.default);
  return size ? size.width * size.height : 1024 * 1024;
}

/** The aspect ratios a model accepts in `aspect_ratio`. */
export function acceptedAspectRatios(model: CatalogModel): readonly string[] {
  return 'aspect_ratios' in model.sizes ? model.sizes.aspect_ratios : relayAspectRatios;
}

/**
 * Resolves `size` and `aspect_ratio` (either, both or neither) to the pixel size the model will
 * produce. `size: "auto"` is the model's default. Both given and disagreeing → 400.
 */
export function resolveSize(model: CatalogModel, input: { size?: string; aspectRatio?: string }): ResolvedSize {
  const spec = model.sizes;
  const warnings: string[] = [];
  const requestedSize = input.size !== undefined && input.size !== 'auto' ? input.size : undefined;
  let ratio: number | undefined;
  let ratioName: string | undefined;

  if (input.aspectRatio !== undefined) {
    const accepted = acceptedAspectRatios(model);
    if (!accepted.includes(input.aspectRatio)) throw invalidValue('aspect_ratio', input.aspectRatio, accepted);
    ratio = parseRatio(input.aspectRatio);
    ratioName = input.aspectRatio;
  }

  if (requestedSize !== undefined) {
    const size = parseSize(requestedSize);
    if ('enum' in spec) {
      if (!size || !spec.enum.includes(formatSize(size))) throw invalidValue('size', requestedSize, [...spec.enum, 'auto']);
    } else if (!size) {
      throw invalidValue('size', requestedSize, 'rule' in spec ? `Expected ${describeRule(spec.rule)}, or 'auto'.` : `Expected 'WIDTHxHEIGHT' or 'auto'.`);
    }
    const parsed = size as PixelSize;
    if (ratio !== undefined && ratioDistance(parsed.width / parsed.height, ratio) > ratioTolerance) {
      throw new GatewayError(
        'invalid_value',
        `'size' ${requestedSize} and 'aspect_ratio' ${input.aspectRatio} disagree. Send one of them, or values with the same ratio.`,
        { param: 'aspect_ratio' },
      );
    }
    if ('rule' in spec) {
      const problem = ruleViolation(parsed, spec.rule);
      if (problem) throw invalidValue('size', requestedSize, `For ${model.id}, ${problem} (expected ${describeRule(spec.rule)}, or 'auto').`);
      return { size: parsed, aspectRatio: ratioName ?? simplifyRatio(parsed), warnings };
    }
    if ('aspect_ratios' in spec) {
      const name = ratioName ?? nearestRatioName(parsed, spec.aspect_ratios);
      const resolved = sizeForRatio(parseRatio(name) ?? 1, spec.megapixels * 1024 * 1024, 32);
      if (formatSize(resolved) !== requestedSize) {
        warnings.push(`${model.id} takes an aspect ratio, not pixels: size ${requestedSize} was mapped to aspect_ratio ${name} (${formatSize(resolved)})`);
      }
      return { size: resolved, aspectRatio: name, warnings };
    }
    return { size: parsed, aspectRatio: ratioName ?? simplifyRatio(parsed), warnings };
  }

  if (ratio !== undefined && ratioName !== undefined) {
    if ('enum' in spec) {
      // The default goes first so it wins ties: 1:1 on dall-e-2 is 1024x1024, not the first square listed.
      const sizes = [spec.default, ...spec.enum.filter((s) => s !== spec.default)].map((s) => parseSize(s) as PixelSize);
      const chosen = nearestBy(sizes, (s) => s.width / s.height, ratio);
      const exact = ratioDistance(chosen.width / chosen.height, ratio) <= ratioTolerance;
      warnings.push(
        exact
          ? `aspect_ratio ${ratioName} resolved to size ${formatSize(chosen)}`
          : `aspect_ratio ${ratioName} is not available for ${model.id}; used the nearest size ${formatSize(chosen)}`,
      );
      return { size: chosen, aspectRatio: exact ? ratioName : simplifyRatio(chosen), warnings };
    }
    if ('rule' in spec) {
      const maxRatio = spec.rule.max_ratio;
      // A relay ratio wider than the rule allows gets the nearest ratio the rule does allow.
      const usable = maxRatio === undefined ? ratio : Math.min(Math.max(ratio, 1 / maxRatio), maxRatio);
      const chosen = fitRatioBound(sizeForRatio(usable, defaultPixels(model), spec.rule.multiple_of, spec.rule), spec.rule);
      if (usable === ratio) {
        warnings.push(`aspect_ratio ${ratioName} resolved to size ${formatSize(chosen)}`);
        return { size: chosen, aspectRatio: ratioName, warnings };
      }
      warnings.push(`aspect_ratio ${ratioName} is beyond the 1:${maxRatio}..${maxRatio}:1 range of ${model.id}; used the nearest size ${formatSize(chosen)}`);
      return { size: chosen, aspectRatio: simplifyRatio(chosen), warnings };
    }
    return { size: sizeForRatio(ratio, defaultPixels(model), 32), aspectRatio: ratioName, warnings };
  }

  if ('aspect_ratios' in spec) {
    const name = spec.default_aspect_ratio;
    return { size: sizeForRatio(parseRatio(name) ?? 1, defaultPixels(model), 32), aspectRatio: name, warnings };
  }
  const size = parseSize(spec.default) as PixelSize;
  return { size, aspectRatio: simplifyRatio(size), warnings };
}

/**
 * The size an edit gets when the client asked for none: the input image's shape, as near as the model
 * allows (issue 10 item 7) — the nearest listed size, the input's ratio at the model's default pixel
 * count within its rule, or the nearest of its aspect ratios — instead of the model's square default.
 * A warning only when the model cannot keep the shape.
 */
export function sizeKeepingShape(model: CatalogModel, input: PixelSize): ResolvedSize {
  const spec = model.sizes;
  const ratio = input.width / input.height;
  const shape = `${input.width}x${input.height}`;
  const warnings: string[] = [];
  let size: PixelSize;
  let aspectRatio: string;
  if ('enum' in spec) {
    const sizes = [spec.default, ...spec.enum.filter((s) => s !== spec.default)].map((s) => parseSize(s) as PixelSize);
    size = nearestBy(sizes, (s) => s.width / s.height, ratio);
    aspectRatio = simplifyRatio(size);
  } else if ('rule' in spec) {
    const maxRatio = spec.rule.max_ratio;
    const usable = maxRatio === undefined ? ratio : Math.min(Math.max(ratio, 1 / maxRatio), maxRatio);
    size = fitRatioBound(sizeForRatio(usable, defaultPixels(model), spec.rule.multiple_of, spec.rule), spec.rule);
    aspectRatio = simplifyRatio(size);
  } else {
    aspectRatio = nearestRatioName(input, spec.aspect_ratios);
    size = sizeForRatio(parseRatio(aspectRatio) ?? 1, defaultPixels(model), 32);
  }
  if (ratioDistance(size.width / size.height, ratio) > ratioTolerance) {
    warnings.push(`size: the input image's shape (${shape}) is not available for ${model.id}; the edit uses the nearest, ${formatSize(size)}`);
  }
  return { size, aspectRatio, warnings };
}

/** 1024x768 → "4:3"; sizes near a relay ratio take its name (1792x1024 → "16:9"). */
export function simplifyRatio(size: PixelSize): string {
  const near = nearestRatioName(size, relayAspectRatios);
  if (ratioDistance(size.width / size.height, ratioValue(near)) <= ratioTolerance) return near;
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const divisor = gcd(size.width, size.height);
  return `${size.width / divisor}:${size.height / divisor}`;
}
