// The official openai SDK against a running gateway on the offline engine: the paths a client takes first.

import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gateway = await startTestGateway();
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
});
afterAll(async () => gateway.close());

describe('openai SDK against imagegate', () => {
  it('generates a gpt-image-1 image as base64 with usage-free details', async () => {
    const result = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1536x1024' });
    const bytes = Buffer.from(result.data?.[0]?.b64_json ?? '', 'base64');
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1536, 1024]);
    expect(result.size).toBe('1536x1024');
    expect(result.output_format).toBe('png');
  });

  it('edits with two images sent as image[] and a mask', async () => {
    const first = await sharp({ create: { width: 256, height: 256, channels: 4, background: '#3366ff' } }).png().toBuffer();
    const second = await sharp({ create: { width: 128, height: 128, channels: 3, background: '#ff3300' } }).jpeg().toBuffer();
    const mask = await sharp({ create: { width: 256, height: 256, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const result = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'add a moon',
      image: [await toFile(first, 'a.bin'), await toFile(second, 'b.bin')],
      mask: await toFile(mask, 'mask.bin'),
      size: '1024x1024',
      n: 2,
    });
    expect(result.data).toHaveLength(2);
    const meta = await sharp(Buffer.from(result.data?.[1]?.b64_json ?? '', 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
  });

  it('creates a dall-e-2 variation served from a signed URL', async () => {
    const square = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#22aa44' } }).png().toBuffer();
    const result = await client.images.createVariation({ image: await toFile(square, 'v.png'), size: '256x256' });
    const url = result.data?.[0]?.url ?? '';
    expect(url.startsWith(gateway.url)).toBe(true);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    const meta = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
  });

  it('raises BadRequestError naming the param for an invalid size', async () => {
    const error = await client.images.generate({ model: 'dall-e-3', prompt: 'x', size: '512x512' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('size');
  });
});
