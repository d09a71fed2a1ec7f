// Size and aspect-ratio resolution against the bundled catalog: which pixel size each request gets,
// which it is refused, and which substitutions are reported.

import { describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { createCatalog } from './catalog/catalog.js';
import type { CatalogModel } from './catalog/types.js';
import { GatewayError } from './errors.js';
import {
  acceptedAspectRatios,
  describeRule,
  formatSize,
  nearestRatioName,
  parseRatio,
  parseSize,
  relayAspectRatios,
  resolveSize,
  ruleViolation,
  simplifyRatio,
  sizeForRatio,
  sizeKeepingShape,
} from './sizes.js';

const catalog = createCatalog(readCatalogFile());

function model(id: string): CatalogModel {
  const resolved = catalog.get(id);
  if (!resolved) throw new Error(`catalog has no ${id}`);
  return resolved.model;
}

/** Runs `action` and returns the GatewayError it throws. */
function rejection(action: () => unknown): GatewayError {
  try {
    action();
  } catch (error) {
    if (error instanceof GatewayError) return error;
    throw error;
  }
  throw new Error('expected a GatewayError, nothing was thrown');
}

describe('parseSize and parseRatio', () => {
  it('reads WIDTHxHEIGHT, in either case of x, with surrounding spaces', () => {
    expect(parseSize('1792x1024')).toEqual({ width: 1792, height: 1024 });
    expect(parseSize(' 1024X1536 ')).toEqual({ width: 1024, height: 1536 });
  });

  it.each(['1024', 'x1024', '1024x', 'axb', '1024*1024', '1024x1024x3', '-16x16', '1x1', '123456x16', '00x00', '0000x1024'])('refuses %j', (text) => {
    expect(parseSize(text)).toBeUndefined();
  });

  it('reads W:H ratios and refuses zero or malformed ones', () => {
    expect(parseRatio('16:9')).toBeCloseTo(16 / 9);
    expect(parseRatio('9:21')).toBeCloseTo(9 / 21);
    expect(parseRatio('0:1')).toBeUndefined();
    expect(parseRatio('16/9')).toBeUndefined();
  });
});

describe('ratio names', () => {
  it('names the nearest relay ratio for a size', () => {
    expect(nearestRatioName({ width: 1792, height: 1024 }, relayAspectRatios)).toBe('16:9');
    expect(nearestRatioName({ width: 1024, height: 1536 }, relayAspectRatios)).toBe('2:3');
    expect(nearestRatioName({ width: 2520, height: 1080 }, relayAspectRatios)).toBe('21:9');
    // Ties go to the first listed ratio.
    expect(nearestRatioName({ width: 100, height: 100 }, ['2:2', '1:1'])).toBe('2:2');
  });

  it('simplifies sizes to a relay ratio when close, else to the reduced fraction', () => {
    expect(simplifyRatio({ width: 1024, height: 768 })).toBe('4:3');
    expect(simplifyRatio({ width: 3840, height: 2160 })).toBe('16:9');
    expect(simplifyRatio({ width: 1792, height: 1024 })).toBe('16:9');
    expect(simplifyRatio({ width: 1280, height: 1024 })).toBe('5:4');
  });
});

describe('enumerated sizes (dall-e, gpt-image-1, sora_image)', () => {
  it('accepts a listed size and auto (the default)', () => {
    expect(resolveSize(model('dall-e-3'), { size: '1792x1024' })).toEqual({ size: { width: 1792, height: 1024 }, aspectRatio: '16:9', warnings: [] });
    expect(resolveSize(model('dall-e-3'), { size: 'auto' }).size).toEqual({ width: 1024, height: 1024 });
    expect(resolveSize(model('gpt-image-1'), {}).size).toEqual({ width: 1024, height: 1024 });
  });

  it('refuses an unlisted size naming size and listing every allowed value', () => {
    const error = rejection(() => resolveSize(model('dall-e-2'), { size: '1024x1792' }));
    expect([error.status, error.code, error.param]).toEqual([400, 'invalid_value', 'size']);
    expect(error.message).toContain("'256x256', '512x512', '1024x1024', and 'auto'");
  });

  it('maps an aspect ratio to the size with that ratio and says so', () => {
    const resolved = resolveSize(model('dall-e-3'), { aspectRatio: '9:16' });
    expect(resolved.size).toEqual({ width: 1024, height: 1792 });
    expect(resolved.aspectRatio).toBe('9:16');
    expect(resolved.warnings).toEqual(['aspect_ratio 9:16 resolved to size 1024x1792']);
  });

  it('maps an aspect ratio the model lacks to the nearest size and says it is not available', () => {
    const wide = resolveSize(model('gpt-image-1'), { aspectRatio: '21:9' });
    expect(wide.size).toEqual({ width: 1536, height: 1024 });
    expect(wide.warnings).toEqual(['aspect_ratio 21:9 is not available for gpt-image-1; used the nearest size 1536x1024']);
    const tall = resolveSize(model('gpt-image-1'), { aspectRatio: '9:21' });
    expect(tall.size).toEqual({ width: 1024, height: 1536 });
    const square = resolveSize(model('dall-e-2'), { aspectRatio: '16:9' });
    expect(square.size).toEqual({ width: 1024, height: 1024 });
    expect(square.warnings[0]).toContain('not available for dall-e-2');
    // The provider is asked for the ratio of the size it will make.
    expect(square.aspectRatio).toBe('1:1');
  });

  it('1:1 on dall-e-2 is its default 1024x1024, not the smallest square', () => {
    expect(resolveSize(model('dall-e-2'), { aspectRatio: '1:1' }).size).toEqual({ width: 1024, height: 1024 });
  });

  it('takes size and aspect_ratio together when they agree, and refuses them when they do not', () => {
    expect(resolveSize(model('dall-e-3'), { size: '1792x1024', aspectRatio: '16:9' }).size).toEqual({ width: 1792, height: 1024 });
    const error = rejection(() => resolveSize(model('gpt-image-1'), { size: '1024x1536', aspectRatio: '3:2' }));
    expect([error.code, error.param]).toEqual(['invalid_value', 'aspect_ratio']);
    expect(error.message).toContain('disagree');
  });

  it('refuses an aspect ratio outside the relay list, listing the list', () => {
    const error = rejection(() => resolveSize(model('dall-e-3'), { aspectRatio: '5:4' }));
    expect(error.param).toBe('aspect_ratio');
    for (const ratio of relayAspectRatios) expect(error.message).toContain(`'${ratio}'`);
  });
});

describe('size rules (gpt-image-2, flux-1.1-pro, flux-dev, flux-schnell)', () => {
  it.each(['3840x2160', '2160x3840', '2048x2048', '2048x1152', '1024x1024', '1536x1024', '1280x720'])('gpt-image-2 takes %s exactly', (size) => {
    const resolved = resolveSize(model('gpt-image-2'), { size });
    expect(formatSize(resolved.size)).toBe(size);
    expect(resolved.warnings).toEqual([]);
  });

  it.each([
    ['1000x1000', 'multiples of 16'],
    ['512x512', 'at least 655360 pixels'],
    ['3840x2176', 'at most 8294400 pixels'],
    ['4096x1024', 'at most 3840'],
    ['3072x960', 'between 1:3 and 3:1'],
  ])('gpt-image-2 refuses %s: %s', (size, reason) => {
    const error = rejection(() => resolveSize(model('gpt-image-2'), { size }));
    expect([error.code, error.param]).toEqual(['invalid_value', 'size']);
    expect(error.message).toContain(reason);
    // ...and says what would be accepted.
    expect(error.message).toContain(describeRule({ multiple_of: 16, max_edge: 3840, min_pixels: 655360, max_pixels: 8294400, max_ratio: 3 }));
  });

  it('flux-1.1-pro defaults to 1024x768 and refuses edges over 1440 or off the 32 grid', () => {
    expect(resolveSize(model('flux-1.1-pro'), {}).size).toEqual({ width: 1024, height: 768 });
    expect(rejection(() => resolveSize(model('flux-1.1-pro'), { size: '1472x1024' })).message).toContain('at most 1440');
    expect(rejection(() => resolveSize(model('flux-1.1-pro'), { size: '1000x800' })).message).toContain('multiples of 32');
    expect(rejection(() => resolveSize(model('flux-1.1-pro'), { size: '224x1024' })).message).toContain('at least 256');
  });

  it('a relay ratio wider than max_ratio gets the nearest allowed ratio, reported', () => {
    // A model whose rule stops at 1.9:1 (as Imagen's), while relay clients may send 21:9.
    const narrow: CatalogModel = {
      ...model('gpt-image-2'),
      id: 'narrow-model',
      sizes: { rule: { multiple_of: 16, min_edge: 256, max_edge: 2816, max_ratio: 1.9 }, default: '1024x1024' },
    };
    for (const ratio of ['21:9', '9:21']) {
      const resolved = resolveSize(narrow, { aspectRatio: ratio });
      const rule = (narrow.sizes as { rule: { multiple_of: number; max_ratio: number } }).rule;
      expect(ruleViolation(resolved.size, rule), formatSize(resolved.size)).toBeUndefined();
      const long = Math.max(resolved.size.width, resolved.size.height) / Math.min(resolved.size.width, resolved.size.height);
      expect(long).toBeGreaterThan(1.8);
      expect(resolved.warnings[0]).toContain(`aspect_ratio ${ratio} is beyond the 1:1.9..1.9:1 range of narrow-model`);
      // The provider is asked for the ratio it will deliver, not the one it cannot.
      expect(resolved.aspectRatio).not.toBe(ratio);
    }
    expect(resolveSize(narrow, { aspectRatio: '16:9' }).warnings).toEqual([expect.stringContaining('resolved to size')]);
  });

  it('a size that is not WIDTHxHEIGHT is refused with the rule spelled out', () => {
    const error = rejection(() => resolveSize(model('gpt-image-2'), { size: 'large' }));
    expect(error.param).toBe('size');
    expect(error.message).toContain('multiples of 16');
  });

  it('an aspect ratio becomes a size of about the default pixel count that follows the rule', () => {
    const resolved = resolveSize(model('gpt-image-2'), { aspectRatio: '16:9' });
    expect(resolved.size.width % 16).toBe(0);
    expect(resolved.size.height % 16).toBe(0);
    expect(resolved.size.width / resolved.size.height).toBeCloseTo(16 / 9, 1);
    expect(resolved.warnings).toEqual([`aspect_ratio 16:9 resolved to size ${formatSize(resolved.size)}`]);
  });
});

describe('aspect-ratio models (flux-kontext, flux-1.1-pro-ultra)', () => {
  it('21:9 on flux-kontext-pro is a one-megapixel 21:9 size on the 32 grid, with no warning', () => {
    const resolved = resolveSize(model('flux-kontext-pro'), { aspectRatio: '21:9' });
    expect(resolved.size).toEqual({ width: 1568, height: 672 });
    expect(resolved.aspectRatio).toBe('21:9');
    expect(resolved.warnings).toEqual([]);
  });

  it('defaults to the model’s default ratio', () => {
    expect(resolveSize(model('flux-kontext-pro'), {}).aspectRatio).toBe('1:1');
    const ultra = resolveSize(model('flux-1.1-pro-ultra'), {});
    expect(ultra.aspectRatio).toBe('16:9');
    // About four megapixels.
    expect(ultra.size.width * ultra.size.height).toBeGreaterThan(3.8 * 1024 * 1024);
  });

  it('maps a pixel size to the nearest ratio and reports the mapping', () => {
    const resolved = resolveSize(model('flux-kontext-pro'), { size: '1792x1024' });
    expect(resolved.aspectRatio).toBe('16:9');
    expect(resolved.warnings).toEqual([`flux-kontext-pro takes an aspect ratio, not pixels: size 1792x1024 was mapped to aspect_ratio 16:9 (${formatSize(resolved.size)})`]);
  });

  it('a size that is exactly what the ratio gives is taken without a warning', () => {
    expect(resolveSize(model('flux-kontext-pro'), { size: '1024x1024' }).warnings).toEqual([]);
  });

  it('refuses a size that is no size', () => {
    expect(rejection(() => resolveSize(model('flux-kontext-pro'), { size: '00x00' })).param).toBe('size');
  });
});

describe('every catalog model and every relay ratio', () => {
  it('resolves each accepted aspect ratio to a size the model itself accepts', () => {
    for (const entry of catalog.list()) {
      for (const ratio of acceptedAspectRatios(entry)) {
        const resolved = resolveSize(entry, { aspectRatio: ratio });
        const label = `${entry.id} ${ratio} → ${formatSize(resolved.size)}`;
        const spec = entry.sizes;
        if ('enum' in spec) expect(spec.enum, label).toContain(formatSize(resolved.size));
        if ('rule' in spec) expect(ruleViolation(resolved.size, spec.rule), label).toBeUndefined();
        if ('aspect_ratios' in spec) {
          expect(resolved.size.width % 32, label).toBe(0);
          expect(resolved.size.height % 32, label).toBe(0);
          expect(Math.abs(resolved.size.width / resolved.size.height - (parseRatio(ratio) ?? 0)), label).toBeLessThan(0.05);
        }
        // A resolved size sent back as `size` is accepted as it is.
        expect(formatSize(resolveSize(entry, { size: formatSize(resolved.size) }).size), label).toBe(formatSize(resolved.size));
      }
    }
  });

  it('resolves each model’s default to a size the model accepts', () => {
    for (const entry of catalog.list()) {
      const resolved = resolveSize(entry, {});
      expect(resolveSize(entry, { size: 'auto' }), entry.id).toEqual(resolved);
      if ('rule' in entry.sizes) expect(ruleViolation(resolved.size, entry.sizes.rule), entry.id).toBeUndefined();
    }
  });
});

describe('sizeForRatio', () => {
  it('stays within max_edge and max_pixels when rounding up would cross them', () => {
    const rule = { multiple_of: 16, max_edge: 3840, min_pixels: 655360, max_pixels: 8294400, max_ratio: 3 };
    for (const ratio of relayAspectRatios) {
      const size = sizeForRatio(parseRatio(ratio) ?? 1, 8294400, 16, rule);
      expect(ruleViolation(size, rule), `${ratio} → ${formatSize(size)}`).toBeUndefined();
    }
  });

  it('honours min_edge for extreme ratios', () => {
    const rule = { multiple_of: 32, min_edge: 256, max_edge: 1440 };
    const size = sizeForRatio(9 / 21, 256 * 256, 32, rule);
    expect(Math.min(size.width, size.height)).toBeGreaterThanOrEqual(256);
    expect(ruleViolation(size, rule)).toBeUndefined();
  });
});

// Issue 10 item 7: the size an edit gets when none was asked for.
describe('sizeKeepingShape', () => {
  it('picks the listed size, the rule size or the aspect ratio nearest the input’s shape', () => {
    expect(sizeKeepingShape(model('gpt-image-1'), { width: 300, height: 200 }).size).toEqual({ width: 1536, height: 1024 });
    expect(sizeKeepingShape(model('gpt-image-1'), { width: 200, height: 300 }).size).toEqual({ width: 1024, height: 1536 });
    expect(sizeKeepingShape(model('flux-kontext-pro'), { width: 1600, height: 900 }).aspectRatio).toBe('16:9');
    expect(sizeKeepingShape(model('gemini-3-pro-image-preview'), { width: 1200, height: 900 }).aspectRatio).toBe('4:3');
    const square = sizeKeepingShape(model('gpt-image-1'), { width: 640, height: 640 });
    expect([square.size, square.warnings]).toEqual([{ width: 1024, height: 1024 }, []]);
  });

  it('warns when the model cannot keep the shape', () => {
    const wide = sizeKeepingShape(model('gpt-image-1'), { width: 2000, height: 500 });
    expect(wide.size).toEqual({ width: 1536, height: 1024 });
    expect(wide.warnings[0]).toContain("the input image's shape (2000x500) is not available for gpt-image-1");
  });
});
