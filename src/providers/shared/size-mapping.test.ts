// Size mapping against the real size rules of each provider; the specs here double as documentation.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { mapSize, nearestAspectRatio, parseAspectRatio, type MappedSize, type SizeSpec } from './size-mapping.js';

/** BFL flux-pro-1.1 / flux-dev: width and height 256–1440, multiples of 32. */
const bflFluxPro: SizeSpec = { kind: 'pixels', multiple: 32, minEdge: 256, maxEdge: 1440 };
/** BFL FLUX.2: multiples of 16, at least 64, at most 4 MP (no edge limit documented; 4096 keeps shapes sane). */
const bflFlux2: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 64, maxEdge: 4096, maxPixels: 4 * 1024 * 1024 };
/** BFL flux-pro-1.1-ultra and kontext: aspect_ratio between 21:9 and 9:21. */
const bflUltra: SizeSpec = { kind: 'aspect_ratio', ratios: ['21:9', '16:9', '3:2', '4:3', '5:4', '1:1', '4:5', '3:4', '2:3', '9:16', '9:21'] };
/** Stability v2beta stable-image: nine aspect ratios. */
const stability: SizeSpec = { kind: 'aspect_ratio', ratios: ['21:9', '16:9', '3:2', '5:4', '1:1', '4:5', '2:3', '9:16', '9:21'] };
/** Google Imagen: five aspect ratios (3:2 is an error upstream). */
const imagen: SizeSpec = { kind: 'aspect_ratio', ratios: ['1:1', '3:4', '4:3', '9:16', '16:9'] };
/** Google Gemini image models: imageConfig.aspectRatio plus imageSize 1K/2K/4K. */
const gemini: SizeSpec = {
  kind: 'tier',
  tiers: [
    { name: '1K', maxEdge: 1024 },
    { name: '2K', maxEdge: 2048 },
    { name: '4K', maxEdge: 4096 },
  ],
  ratios: ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'],
};
/** fal.ai image_size presets. */
const fal: SizeSpec = {
  kind: 'preset',
  presets: {
    square_hd: { width: 1024, height: 1024 },
    square: { width: 512, height: 512 },
    portrait_4_3: { width: 768, height: 1024 },
    portrait_16_9: { width: 576, height: 1024 },
    landscape_4_3: { width: 1024, height: 768 },
    landscape_16_9: { width: 1024, height: 576 },
  },
};
/** OpenAI DALL·E 3, DALL·E 2 and gpt-image enumerated sizes. */
const dallE3: SizeSpec = { kind: 'enumerated', sizes: ['1024x1024', '1792x1024', '1024x1792'] };
const dallE2: SizeSpec = { kind: 'enumerated', sizes: ['256x256', '512x512', '1024x1024'] };
const gptImage: SizeSpec = { kind: 'enumerated', sizes: ['auto', '1024x1024', '1536x1024', '1024x1536'] };

function request(width: number, height: number, aspectRatio?: string): { size: { width: number; height: number }; aspectRatio: string } {
  return { size: { width, height }, aspectRatio: aspectRatio ?? reduced(width, height) };
}

function reduced(width: number, height: number): string {
  const divisor = (a: number, b: number): number => (b === 0 ? a : divisor(b, a % b));
  const common = divisor(width, height);
  return `${width / common}:${height / common}`;
}

type Row = [label: string, spec: SizeSpec, input: ReturnType<typeof request>, expected: MappedSize, warned: boolean];

const table: Row[] = [
  // BFL flux-pro-1.1: pixels ×32 within 256–1440.
  ['flux-pro exact', bflFluxPro, request(1024, 768), { kind: 'pixels', width: 1024, height: 768 }, false],
  ['flux-pro 1792x1024 shrinks into 1440 keeping the shape', bflFluxPro, request(1792, 1024), { kind: 'pixels', width: 1440, height: 832 }, true],
  ['flux-pro 1000x1000 snaps to 32', bflFluxPro, request(1000, 1000), { kind: 'pixels', width: 992, height: 992 }, true],
  ['flux-pro 2048x2048 clamps', bflFluxPro, request(2048, 2048), { kind: 'pixels', width: 1440, height: 1440 }, true],
  ['flux-pro 100x100 grows to the minimum', bflFluxPro, request(100, 100), { kind: 'pixels', width: 256, height: 256 }, true],
  ['flux-pro 4096x256 clamps each edge', bflFluxPro, request(4096, 256), { kind: 'pixels', width: 1440, height: 256 }, true],
  // BFL FLUX.2: pixels ×16, ≥64, ≤4 MP.
  ['flux-2 exact', bflFlux2, request(1024, 1024), { kind: 'pixels', width: 1024, height: 1024 }, false],
  ['flux-2 1000x1000 snaps to 16', bflFlux2, request(1000, 1000), { kind: 'pixels', width: 1008, height: 1008 }, true],
  ['flux-2 4096x4096 stays within 4 MP', bflFlux2, request(4096, 4096), { kind: 'pixels', width: 2048, height: 2048 }, true],
  ['flux-2 32x32 grows to 64', bflFlux2, request(32, 32), { kind: 'pixels', width: 64, height: 64 }, true],
  // BFL ultra/kontext aspect ratios.
  ['ultra 16:9 exact', bflUltra, request(1792, 1008, '16:9'), { kind: 'aspect_ratio', aspectRatio: '16:9' }, false],
  ['ultra 32:18 is 16:9', bflUltra, request(1792, 1008, '32:18'), { kind: 'aspect_ratio', aspectRatio: '16:9' }, false],
  ['ultra 7:4 → 16:9', bflUltra, request(1792, 1024), { kind: 'aspect_ratio', aspectRatio: '16:9' }, true],
  ['ultra 4:1 → 21:9', bflUltra, request(2048, 512), { kind: 'aspect_ratio', aspectRatio: '21:9' }, true],
  // Stability's nine ratios.
  ['stability 16:9 exact', stability, request(1920, 1080), { kind: 'aspect_ratio', aspectRatio: '16:9' }, false],
  ['stability 7:3 is 21:9', stability, request(2100, 900), { kind: 'aspect_ratio', aspectRatio: '21:9' }, false],
  ['stability 4:3 → 5:4', stability, request(1024, 768), { kind: 'aspect_ratio', aspectRatio: '5:4' }, true],
  ['stability 3:4 → 4:5', stability, request(768, 1024), { kind: 'aspect_ratio', aspectRatio: '4:5' }, true],
  // Imagen's five.
  ['imagen 16:9 exact', imagen, request(1408, 792, '16:9'), { kind: 'aspect_ratio', aspectRatio: '16:9' }, false],
  ['imagen 3:2 → 4:3', imagen, request(1536, 1024), { kind: 'aspect_ratio', aspectRatio: '4:3' }, true],
  ['imagen 21:9 → 16:9', imagen, request(2100, 900), { kind: 'aspect_ratio', aspectRatio: '16:9' }, true],
  ['imagen 2:3 → 3:4', imagen, request(1024, 1536), { kind: 'aspect_ratio', aspectRatio: '3:4' }, true],
  // Gemini: ratio plus tier.
  ['gemini 1024 square is 1K', gemini, request(1024, 1024), { kind: 'tier', tier: '1K', aspectRatio: '1:1' }, false],
  ['gemini 2048x1152 needs 2K 16:9', gemini, request(2048, 1152), { kind: 'tier', tier: '2K', aspectRatio: '16:9' }, true],
  ["gemini's own 1K 16:9 (1376x768) is 1K", gemini, request(1376, 768, '16:9'), { kind: 'tier', tier: '1K', aspectRatio: '16:9' }, false],
  ["gemini's own 2K 21:9 (3168x1344) is 2K", gemini, request(3168, 1344, '21:9'), { kind: 'tier', tier: '2K', aspectRatio: '21:9' }, false],
  ['gemini 1536x1024 needs 2K', gemini, request(1536, 1024), { kind: 'tier', tier: '2K', aspectRatio: '3:2' }, true],
  ['gemini 1792x1024 → 2K 16:9', gemini, request(1792, 1024), { kind: 'tier', tier: '2K', aspectRatio: '16:9' }, true],
  ['gemini 4096 square is 4K', gemini, request(4096, 4096), { kind: 'tier', tier: '4K', aspectRatio: '1:1' }, false],
  ['gemini beyond 4K stays 4K', gemini, request(8192, 8192), { kind: 'tier', tier: '4K', aspectRatio: '1:1' }, true],
  ['gemini 512 square is 1K', gemini, request(512, 512), { kind: 'tier', tier: '1K', aspectRatio: '1:1' }, true],
  // fal presets.
  ['fal square_hd exact', fal, request(1024, 1024), { kind: 'preset', preset: 'square_hd' }, false],
  ['fal square exact', fal, request(512, 512), { kind: 'preset', preset: 'square' }, false],
  ['fal portrait_4_3 exact', fal, request(768, 1024), { kind: 'preset', preset: 'portrait_4_3' }, false],
  ['fal portrait_16_9 exact', fal, request(576, 1024), { kind: 'preset', preset: 'portrait_16_9' }, false],
  ['fal landscape_4_3 exact', fal, request(1024, 768), { kind: 'preset', preset: 'landscape_4_3' }, false],
  ['fal landscape_16_9 exact', fal, request(1024, 576), { kind: 'preset', preset: 'landscape_16_9' }, false],
  ['fal 1792x1024 → landscape_16_9', fal, request(1792, 1024), { kind: 'preset', preset: 'landscape_16_9' }, true],
  ['fal 1024x1792 → portrait_16_9', fal, request(1024, 1792), { kind: 'preset', preset: 'portrait_16_9' }, true],
  ['fal 1536x1024 → landscape_4_3', fal, request(1536, 1024), { kind: 'preset', preset: 'landscape_4_3' }, true],
  ['fal 256 square → square (nearest area)', fal, request(256, 256), { kind: 'preset', preset: 'square' }, true],
  ['fal 2048 square → square_hd (nearest area)', fal, request(2048, 2048), { kind: 'preset', preset: 'square_hd' }, true],
  // DALL·E and gpt-image enumerated sizes.
  ['dall-e-3 exact', dallE3, request(1792, 1024), { kind: 'pixels', width: 1792, height: 1024 }, false],
  ['dall-e-3 1536x1024 → 1792x1024', dallE3, request(1536, 1024), { kind: 'pixels', width: 1792, height: 1024 }, true],
  ['dall-e-3 512 square → 1024x1024', dallE3, request(512, 512), { kind: 'pixels', width: 1024, height: 1024 }, true],
  ['dall-e-2 exact', dallE2, request(512, 512), { kind: 'pixels', width: 512, height: 512 }, false],
  ['dall-e-2 300 square → 256x256', dallE2, request(300, 300), { kind: 'pixels', width: 256, height: 256 }, true],
  ['dall-e-2 1024x1536 → 1024x1024', dallE2, request(1024, 1536), { kind: 'pixels', width: 1024, height: 1024 }, true],
  ['gpt-image exact', gptImage, request(1024, 1536), { kind: 'pixels', width: 1024, height: 1536 }, false],
  ['gpt-image 1792x1024 → 1536x1024', gptImage, request(1792, 1024), { kind: 'pixels', width: 1536, height: 1024 }, true],
];

describe('mapSize', () => {
  it('refuses an enumerated spec without a WxH size on every call, and answers a listed one the same way each time', () => {
    const autoOnly: SizeSpec = { kind: 'enumerated', sizes: ['auto'] };
    expect(() => mapSize(request(256, 256), autoOnly)).toThrow('at least one WxH size');
    expect(() => mapSize(request(256, 256), autoOnly)).toThrow('at least one WxH size');
    for (let call = 0; call < 3; call += 1) expect(mapSize(request(300, 300), dallE2).value).toEqual({ kind: 'pixels', width: 256, height: 256 });
  });

  it.each(table)('%s', (_label, spec, input, expected, warned) => {
    const { value, warnings } = mapSize(input, spec);
    expect(value).toEqual(expected);
    if (warned) {
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ type: 'mapped', param: 'size' });
      expect(warnings[0]?.message).toContain(`${input.size.width}x${input.size.height}`);
    } else {
      expect(warnings).toEqual([]);
    }
  });

  it('keeps every pixels result on the grid and within the bounds, close to the asked shape', () => {
    const asked = [
      [3000, 2000],
      [1792, 1024],
      [1024, 1792],
      [1536, 1024],
      [640, 480],
      [2500, 1000],
      [777, 333],
    ] as const;
    for (const spec of [bflFluxPro, bflFlux2] as const) {
      if (spec.kind !== 'pixels') throw new Error('pixels specs only');
      for (const [width, height] of asked) {
        const { value } = mapSize(request(width, height), spec);
        if (value.kind !== 'pixels') throw new Error('expected pixels');
        expect(value.width % spec.multiple).toBe(0);
        expect(value.height % spec.multiple).toBe(0);
        expect(Math.min(value.width, value.height)).toBeGreaterThanOrEqual(spec.minEdge);
        expect(Math.max(value.width, value.height)).toBeLessThanOrEqual(spec.maxEdge);
        if (spec.maxPixels !== undefined) expect(value.width * value.height).toBeLessThanOrEqual(spec.maxPixels);
        // Within 5% of the asked shape: the grid cannot do better at these sizes.
        expect(Math.abs(Math.log(value.width / value.height / (width / height)))).toBeLessThan(0.05);
      }
    }
  });

  it('fills the 4 MP budget of FLUX.2 for a large landscape request', () => {
    const { value } = mapSize(request(3000, 2000), bflFlux2);
    if (value.kind !== 'pixels') throw new Error('expected pixels');
    expect(value.width * value.height).toBeGreaterThan(0.97 * 4 * 1024 * 1024);
    expect(value.width).toBeGreaterThan(value.height);
  });

  it('honours minPixels', () => {
    const spec: SizeSpec = { kind: 'pixels', multiple: 64, minEdge: 64, maxEdge: 2048, minPixels: 1024 * 1024 };
    const { value } = mapSize(request(512, 512), spec);
    expect(value).toEqual({ kind: 'pixels', width: 1024, height: 1024 });
  });
});

describe('parseAspectRatio', () => {
  it('reads W:H, decimals included', () => {
    expect(parseAspectRatio('16:9')).toEqual({ width: 16, height: 9 });
    expect(parseAspectRatio(' 1.91 : 1 ')).toEqual({ width: 1.91, height: 1 });
  });

  it.each(['16/9', 'abc', '0:1', '1:0', '', '16:9:1', '-1:2'])('rejects %j as an invalid_value on aspect_ratio', (text) => {
    let caught: unknown;
    try {
      parseAspectRatio(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(GatewayError);
    expect((caught as GatewayError).code).toBe('invalid_value');
    expect((caught as GatewayError).param).toBe('aspect_ratio');
  });
});

describe('nearestAspectRatio', () => {
  it('compares shapes in log space, so tall and wide are treated alike', () => {
    const ratios = ['1:2', '1:1', '2:1'];
    // 1.4 is nearer 1:1 than 2:1 on a linear scale (0.4 vs 0.6) but nearer 2:1 in log space.
    expect(nearestAspectRatio({ width: 1450, height: 1000 }, ratios)).toBe('2:1');
    expect(nearestAspectRatio({ width: 1000, height: 1450 }, ratios)).toBe('1:2');
    expect(nearestAspectRatio({ width: 1400, height: 1000 }, ratios)).toBe('1:1');
  });

  it('maps a 16:9 size to 16:9 wherever it is listed', () => {
    for (const spec of [bflUltra, stability, imagen]) {
      if (spec.kind !== 'aspect_ratio') throw new Error('aspect ratio specs only');
      expect(nearestAspectRatio({ width: 1920, height: 1080 }, spec.ratios)).toBe('16:9');
    }
  });

  it('prefers the first listed ratio on a tie', () => {
    expect(nearestAspectRatio({ width: 1, height: 1 }, ['2:1', '1:2'])).toBe('2:1');
  });
});
