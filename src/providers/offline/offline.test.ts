// Behaviour of the offline engine as a client sees it: real, decodable, deterministic pictures that
// depend on the prompt, the seed and the caller's images, in the format and size asked for.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, InputImage } from '../../core/ports/image-model.js';
import { GatewayError } from '../../core/errors.js';
import { makeTestImage } from '../../testing/fakes/shared.js';
import { bytesOf, imageCallOptions } from '../../testing/provider-test-kit.js';
import { createOfflineProvider } from './index.js';
import { renderScene } from './render.js';

const model = createOfflineProvider()('gpt-image-1');

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'gpt-image-1', prompt: 'a quiet valley', size: { width: 256, height: 256 }, aspectRatio: '1:1', ...overrides });
}

async function inputImage(width: number, height: number, seed: number): Promise<InputImage> {
  return { data: await makeTestImage(width, height, 'png', seed), mediaType: 'image/png', width, height };
}

async function rgba(data: Buffer): Promise<{ pixels: Buffer; width: number; height: number }> {
  const { data: pixels, info } = await sharp(data).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { pixels, width: info.width, height: info.height };
}

/** Mean absolute difference of RGB over the pixels `select` picks, 0-255. */
function meanDifference(first: Buffer, second: Buffer, width: number, select: (x: number, y: number) => boolean): number {
  let total = 0;
  let count = 0;
  for (let pixel = 0; pixel < first.length / 4; pixel += 1) {
    if (!select(pixel % width, Math.floor(pixel / width))) continue;
    for (let channel = 0; channel < 3; channel += 1) total += Math.abs((first[pixel * 4 + channel] ?? 0) - (second[pixel * 4 + channel] ?? 0));
    count += 3;
  }
  return total / count;
}

async function distinctColours(data: Buffer): Promise<number> {
  const { data: pixels } = await sharp(data).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const colours = new Set<number>();
  for (let offset = 0; offset < pixels.length; offset += 3) colours.add(((pixels[offset] ?? 0) << 16) | ((pixels[offset + 1] ?? 0) << 8) | (pixels[offset + 2] ?? 0));
  return colours.size;
}

describe('offline model', () => {
  it('describes itself as an offline model for the requested name', () => {
    const named = createOfflineProvider()('dall-e-2');
    expect(named).toMatchObject({ specificationVersion: 'v1', provider: 'offline', modelId: 'dall-e-2', maxImagesPerCall: 10, operations: ['generate', 'edit', 'variation'] });
  });

  it('rejects a negative latency when built', () => {
    expect(() => createOfflineProvider({ latencyMs: -1 })).toThrow(RangeError);
  });
});

describe('generate', () => {
  it.each([
    ['png', 'image/png', 320, 192],
    ['jpeg', 'image/jpeg', 192, 320],
    ['webp', 'image/webp', 300, 200],
  ] as const)('returns a %s image of exactly the requested size', async (format, mediaType, width, height) => {
    const result = await model.generate(callOptions({ outputFormat: format, size: { width, height } }));
    expect(result.images).toHaveLength(1);
    expect(result.images[0]).toMatchObject({ kind: 'bytes', mediaType });
    const metadata = await sharp(bytesOf(result.images[0])).metadata();
    expect(metadata).toMatchObject({ format, width, height });
  });

  it('renders a full-size 1024x1024 picture', async () => {
    const result = await model.generate(callOptions({ size: { width: 1024, height: 1024 } }));
    expect(await sharp(bytesOf(result.images[0])).metadata()).toMatchObject({ format: 'png', width: 1024, height: 1024 });
  });

  it.each(['png', 'webp'] as const)('gives a transparent %s a real alpha channel with see-through pixels', async (format) => {
    const result = await model.generate(callOptions({ outputFormat: format, background: 'transparent' }));
    const image = sharp(bytesOf(result.images[0]));
    expect((await image.metadata()).hasAlpha).toBe(true);
    const alpha = (await image.stats()).channels[3];
    expect(alpha?.min).toBe(0);
    expect(alpha?.max).toBe(255);
  });

  it.each([
    ['png', 'opaque'],
    ['png', 'auto'],
    ['webp', 'opaque'],
    ['jpeg', 'transparent'],
  ] as const)('gives a %s with background %s no alpha channel', async (format, background) => {
    const result = await model.generate(callOptions({ outputFormat: format, background }));
    const metadata = await sharp(bytesOf(result.images[0])).metadata();
    expect(metadata.format).toBe(format);
    expect(metadata.hasAlpha).toBe(false);
    expect(metadata.channels).toBe(3);
  });

  it('draws a picture, not a flat colour', async () => {
    const result = await model.generate(callOptions({ prompt: 'a cat wearing a hat' }));
    const data = bytesOf(result.images[0]);
    const stats = await sharp(data).stats();
    for (const channel of stats.channels.slice(0, 3)) expect(channel.stdev).toBeGreaterThan(10);
    expect(await distinctColours(data)).toBeGreaterThan(100);
  });

  it('is deterministic and depends on the prompt and the seed', async () => {
    const first = bytesOf((await model.generate(callOptions({ prompt: 'sunset over the sea', seed: 7 }))).images[0]);
    const again = bytesOf((await model.generate(callOptions({ prompt: 'sunset over the sea', seed: 7 }))).images[0]);
    const otherPrompt = bytesOf((await model.generate(callOptions({ prompt: 'snowy forest', seed: 7 }))).images[0]);
    const otherSeed = bytesOf((await model.generate(callOptions({ prompt: 'sunset over the sea', seed: 8 }))).images[0]);
    expect(again.equals(first)).toBe(true);
    expect(otherPrompt.equals(first)).toBe(false);
    expect(otherSeed.equals(first)).toBe(false);
  });

  it('is deterministic for jpeg and webp too', async () => {
    for (const format of ['jpeg', 'webp'] as const) {
      const input = { prompt: 'night sky', seed: 3, width: 200, height: 120, background: 'auto', format, compression: 30 } as const;
      expect((await renderScene(input)).equals(await renderScene(input))).toBe(true);
    }
  });

  it('returns n different images, image i drawn with seed + i', async () => {
    let progress = 0;
    const result = await model.generate(callOptions({ n: 3, seed: 5, onProgress: (percent) => (progress = percent) }));
    const images = result.images.map(bytesOf);
    expect(images).toHaveLength(3);
    expect(new Set(images.map((image) => image.toString('base64'))).size).toBe(3);
    const single = bytesOf((await model.generate(callOptions({ n: 1, seed: 6 }))).images[0]);
    expect(images[1]?.equals(single)).toBe(true);
    expect(progress).toBe(100);
  });

  it('makes a lossy file smaller as output_compression falls (100 = least lossy, as OpenAI)', async () => {
    const size = { width: 256, height: 256 };
    const light = bytesOf((await model.generate(callOptions({ size, outputFormat: 'jpeg', outputCompression: 90 }))).images[0]);
    const heavy = bytesOf((await model.generate(callOptions({ size, outputFormat: 'jpeg', outputCompression: 0 }))).images[0]);
    expect(heavy.length).toBeLessThan(light.length);
  });

  it('returns a revised prompt for dall-e-3 only', async () => {
    const dalle3 = await createOfflineProvider()('dall-e-3').generate(callOptions({ model: 'dall-e-3', prompt: 'a lake at night' }));
    const image = dalle3.images[0];
    expect(image?.revisedPrompt).toContain('a lake at night');
    expect(image?.revisedPrompt).not.toBe('a lake at night');
    const other = await model.generate(callOptions());
    expect(other.images[0]?.revisedPrompt).toBeUndefined();
  });

  it('reports ignored options only when they are set', async () => {
    expect((await model.generate(callOptions())).warnings).toEqual([]);
    const result = await model.generate(callOptions({ quality: 'high', style: 'vivid', providerOptions: { negative_prompt: 'rain', steps: 20 } }));
    expect(result.warnings).toHaveLength(3);
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'other', param: 'quality', message: expect.stringContaining('offline engine ignores quality') }));
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'other', param: 'style' }));
    const unknown = result.warnings.find((warning) => warning.type === 'unsupported');
    expect(unknown?.message).toContain('negative_prompt');
    expect(unknown?.message).toContain('steps');
  });

  it('refuses sizes it cannot render with a 400', async () => {
    const error = await model.generate(callOptions({ size: { width: 0, height: 256 } })).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).status).toBe(400);
  });
});

describe('abort and latency', () => {
  it('rejects promptly when aborted during the simulated latency', { timeout: 3_000 }, async () => {
    const slow = createOfflineProvider({ latencyMs: 60_000 })('gpt-image-1');
    const controller = new AbortController();
    const pending = slow.generate(callOptions({ abortSignal: controller.signal }));
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('passes on the abort reason the caller gave', { timeout: 3_000 }, async () => {
    const slow = createOfflineProvider({ latencyMs: 60_000 })('gpt-image-1');
    const controller = new AbortController();
    const reason = new Error('client went away');
    const pending = slow.edit?.(callOptions({ images: [await inputImage(64, 64, 1)], abortSignal: controller.signal }));
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
  });

  it('does no work when the signal is already aborted', async () => {
    let progressed = false;
    const result = model.generate(callOptions({ abortSignal: AbortSignal.abort(), onProgress: () => (progressed = true) }));
    await expect(result).rejects.toMatchObject({ name: 'AbortError' });
    expect(progressed).toBe(false);
  });

  it('still answers after a short latency', async () => {
    const slow = createOfflineProvider({ latencyMs: 5 })('gpt-image-1');
    const result = await slow.generate(callOptions());
    expect(result.images).toHaveLength(1);
  });
});

describe('edit', () => {
  const edit = async (options: Partial<ImageCallOptions>) => {
    if (model.edit === undefined) throw new Error('offline model has no edit');
    return model.edit(callOptions(options));
  };

  /** A 256x256 mask, opaque except for a transparent top-left quarter. */
  async function quarterMask(): Promise<InputImage> {
    const pixels = Buffer.alloc(256 * 256 * 4);
    for (let pixel = 0; pixel < 256 * 256; pixel += 1) {
      const x = pixel % 256;
      const y = Math.floor(pixel / 256);
      pixels[pixel * 4 + 3] = x < 128 && y < 128 ? 0 : 255;
    }
    const data = await sharp(pixels, { raw: { width: 256, height: 256, channels: 4 } }).png().toBuffer();
    return { data, mediaType: 'image/png', width: 256, height: 256 };
  }

  it('with a mask, repaints only the transparent area of the mask', async () => {
    const image = await inputImage(256, 256, 3);
    const result = await edit({ prompt: 'a forest at sunset', images: [image], mask: await quarterMask() });
    const output = await rgba(bytesOf(result.images[0]));
    const original = await rgba(image.data);
    expect(output.width).toBe(256);
    expect(output.height).toBe(256);
    expect(meanDifference(output.pixels, original.pixels, 256, (x, y) => !(x < 128 && y < 128))).toBe(0);
    expect(meanDifference(output.pixels, original.pixels, 256, (x, y) => x < 128 && y < 128)).toBeGreaterThan(20);
    expect(result.warnings).toEqual([]);
  });

  it('without a mask, depends on both the image and the prompt', async () => {
    const first = await inputImage(256, 256, 1);
    const second = await inputImage(256, 256, 4);
    const base = bytesOf((await edit({ prompt: 'ocean waves', images: [first] })).images[0]);
    const otherImage = bytesOf((await edit({ prompt: 'ocean waves', images: [second] })).images[0]);
    const otherPrompt = bytesOf((await edit({ prompt: 'red desert', images: [first] })).images[0]);
    const again = bytesOf((await edit({ prompt: 'ocean waves', images: [first] })).images[0]);
    expect(again.equals(base)).toBe(true);
    const pixels = await rgba(base);
    expect(meanDifference(pixels.pixels, (await rgba(first.data)).pixels, 256, () => true)).toBeGreaterThan(5);
    expect(meanDifference(pixels.pixels, (await rgba(otherImage)).pixels, 256, () => true)).toBeGreaterThan(5);
    expect(meanDifference(pixels.pixels, (await rgba(otherPrompt)).pixels, 256, () => true)).toBeGreaterThan(5);
  });

  it('resizes the input to the requested size and format', async () => {
    const result = await edit({ images: [await inputImage(300, 200, 2)], size: { width: 128, height: 192 }, outputFormat: 'webp' });
    expect(await sharp(bytesOf(result.images[0])).metadata()).toMatchObject({ format: 'webp', width: 128, height: 192 });
  });

  it('shows extra input images as thumbnails in the corner', async () => {
    const first = await inputImage(256, 256, 1);
    const alone = await rgba(bytesOf((await edit({ images: [first] })).images[0]));
    const withExtras = await rgba(bytesOf((await edit({ images: [first, await inputImage(100, 100, 6), await inputImage(80, 120, 9)] })).images[0]));
    const inCorner = (x: number, y: number) => x < 100 && y > 200;
    const awayFromCorner = (x: number, y: number) => y < 150;
    expect(meanDifference(alone.pixels, withExtras.pixels, 256, inCorner)).toBeGreaterThan(20);
    expect(meanDifference(alone.pixels, withExtras.pixels, 256, awayFromCorner)).toBe(0);
  });

  it('rejects a mask of a different size than the image', async () => {
    const error = await edit({ images: [await inputImage(256, 256, 1)], mask: await inputImage(128, 128, 2) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    expect(error).toMatchObject({ code: 'invalid_image', param: 'mask', status: 400 });
  });

  it('warns that a mask without alpha marks nothing', async () => {
    const result = await edit({ images: [await inputImage(256, 256, 1)], mask: { ...(await inputImage(256, 256, 2)), data: await makeTestImage(256, 256, 'jpeg', 2), mediaType: 'image/jpeg' } });
    expect(result.warnings).toContainEqual(expect.objectContaining({ param: 'mask' }));
  });

  it('rejects bytes that are not an image', async () => {
    const broken: InputImage = { data: Buffer.from('not an image at all'), mediaType: 'image/png', width: 10, height: 10 };
    await expect(edit({ images: [broken] })).rejects.toMatchObject({ code: 'invalid_image', param: 'image' });
  });

  it('keeps transparency for a transparent background', async () => {
    const result = await edit({ images: [await inputImage(256, 256, 1)], mask: await quarterMask(), background: 'transparent' });
    const image = sharp(bytesOf(result.images[0]));
    expect((await image.metadata()).hasAlpha).toBe(true);
    expect((await image.stats()).channels[3]?.min).toBeLessThan(255);
  });
});

describe('variation', () => {
  const vary = async (options: Partial<ImageCallOptions>) => {
    if (model.variation === undefined) throw new Error('offline model has no variation');
    return model.variation(callOptions({ prompt: '', ...options }));
  };

  it('is a visible, deterministic, seed-dependent change of the input at the requested size', async () => {
    const source = await inputImage(400, 300, 5);
    const result = await vary({ images: [source], n: 2, seed: 11, size: { width: 256, height: 256 } });
    const [first, second] = result.images.map(bytesOf);
    if (first === undefined || second === undefined) throw new Error('expected two variations');
    expect(await sharp(first).metadata()).toMatchObject({ format: 'png', width: 256, height: 256 });
    expect(first.equals(second)).toBe(false);
    const again = bytesOf((await vary({ images: [source], seed: 11, size: { width: 256, height: 256 } })).images[0]);
    expect(again.equals(first)).toBe(true);
    const resizedSource = await rgba(await sharp(source.data).resize(256, 256, { fit: 'cover' }).png().toBuffer());
    expect(meanDifference((await rgba(first)).pixels, resizedSource.pixels, 256, () => true)).toBeGreaterThan(5);
    expect(result.images[0]?.revisedPrompt).toBeUndefined();
  });

  it('needs an image', async () => {
    await expect(vary({ images: [] })).rejects.toMatchObject({ code: 'missing_required_parameter', param: 'image' });
  });
});
