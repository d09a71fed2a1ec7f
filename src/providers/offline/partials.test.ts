// The offline engine's partial images as a streaming caller sees them: the number asked for, in
// order, at the final size and format, each sharper than the one before and all before the final.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, PartialImage } from '../../core/ports/image-model.js';
import { GatewayError } from '../../core/errors.js';
import { makeTestImage } from '../../testing/fakes/shared.js';
import { bytesOf, imageCallOptions } from '../../testing/provider-test-kit.js';
import { createOfflineProvider } from './index.js';

const model = createOfflineProvider()('gpt-image-1');

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'gpt-image-1', prompt: 'a forest by a lake at sunset', size: { width: 256, height: 192 }, aspectRatio: '4:3', ...overrides });
}

/** Mean absolute RGB difference to the final picture, 0-255: how far a preview still is from it. */
async function distanceTo(final: Buffer, preview: Buffer): Promise<number> {
  const [a, b] = await Promise.all([final, preview].map((data) => sharp(data).removeAlpha().raw().toBuffer()));
  if (!a || !b || a.length !== b.length) throw new Error('images differ in size');
  let total = 0;
  for (let offset = 0; offset < a.length; offset += 1) total += Math.abs((a[offset] ?? 0) - (b[offset] ?? 0));
  return total / a.length;
}

async function collect(options: Partial<ImageCallOptions>, operation: 'generate' | 'edit' = 'generate') {
  const partials: PartialImage[] = [];
  let partialsWhenDone = -1;
  const promise = (operation === 'edit' ? model.edit! : model.generate).call(model, callOptions({ ...options, onPartialImage: (image) => partials.push(image) }));
  const result = await promise.then((value) => {
    partialsWhenDone = partials.length;
    return value;
  });
  return { result, partials, partialsWhenDone };
}

describe('offline partial images', () => {
  it.each([1, 2, 3])('sends %i previews, numbered from 0, before the final image', async (count) => {
    const { result, partials, partialsWhenDone } = await collect({ partialImages: count });
    expect(partials.map((image) => [image.index, image.partialImageIndex])).toEqual(Array.from({ length: count }, (_, step) => [0, step]));
    expect(partialsWhenDone).toBe(count);
    expect(result.images).toHaveLength(1);
  });

  it('sends none for partial_images 0, or when nobody listens', async () => {
    const { partials } = await collect({ partialImages: 0 });
    expect(partials).toEqual([]);
    const result = await model.generate(callOptions({ partialImages: 3 }));
    expect(result.images).toHaveLength(1);
  });

  it('refines progressively: each preview is closer to the final picture than the one before', async () => {
    const { result, partials } = await collect({ partialImages: 3 });
    const final = bytesOf(result.images[0]);
    const distances = await Promise.all(partials.map((image) => distanceTo(final, image.data)));
    expect(distances[0]).toBeGreaterThan(distances[1] ?? Infinity);
    expect(distances[1]).toBeGreaterThan(distances[2] ?? Infinity);
    expect(distances[2]).toBeGreaterThan(0.5);
  });

  it.each(['png', 'jpeg', 'webp'] as const)('previews are %s at the final size', async (format) => {
    const { partials } = await collect({ partialImages: 2, outputFormat: format, size: { width: 320, height: 200 } });
    for (const image of partials) {
      const metadata = await sharp(image.data).metadata();
      expect([metadata.format, metadata.width, metadata.height]).toEqual([format, 320, 200]);
    }
  });

  it('keeps transparency in previews of a transparent image', async () => {
    const { partials } = await collect({ partialImages: 1, background: 'transparent' });
    const { data, info } = await sharp(partials[0]?.data).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBe(4);
    let seeThrough = 0;
    for (let offset = 3; offset < data.length; offset += 4) if ((data[offset] ?? 255) < 128) seeThrough += 1;
    expect(seeThrough).toBeGreaterThan(0);
  });

  it('with n = 2 previews each image under its own index', async () => {
    const { result, partials } = await collect({ n: 2, partialImages: 2 });
    expect(result.images).toHaveLength(2);
    const keys = partials.map((image) => `${image.index}:${image.partialImageIndex}`).sort();
    expect(keys).toEqual(['0:0', '0:1', '1:0', '1:1']);
    // Image 1's preview resembles image 1, not image 0.
    const [final0, final1] = [bytesOf(result.images[0]), bytesOf(result.images[1])];
    const preview1 = partials.find((image) => image.index === 1 && image.partialImageIndex === 1)?.data ?? Buffer.alloc(0);
    expect(await distanceTo(final1, preview1)).toBeLessThan(await distanceTo(final0, preview1));
  });

  it('previews edits too', async () => {
    const image = { data: await makeTestImage(128, 128, 'png', 3), mediaType: 'image/png' as const, width: 128, height: 128 };
    const { result, partials } = await collect({ partialImages: 2, images: [image], size: { width: 128, height: 128 } }, 'edit');
    expect(partials).toHaveLength(2);
    expect(result.images).toHaveLength(1);
  });

  it('rejects a partial_images count outside 0-3 with a 400', async () => {
    const error = await collect({ partialImages: 4 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).param).toBe('partial_images');
    expect((error as GatewayError).status).toBe(400);
  });

  it('stops between previews when aborted, sending no more', { timeout: 5_000 }, async () => {
    const slow = createOfflineProvider({ latencyMs: 3_000 })('gpt-image-1');
    const controller = new AbortController();
    const partials: PartialImage[] = [];
    const call = slow.generate(
      callOptions({
        partialImages: 3,
        abortSignal: controller.signal,
        onPartialImage: (image) => {
          partials.push(image);
          controller.abort(new GatewayError('server_error', 'client left'));
        },
      }),
    );
    const error = await call.catch((caught: unknown) => caught);
    expect((error as GatewayError).message).toBe('client left');
    expect(partials).toHaveLength(1);
  });
});
