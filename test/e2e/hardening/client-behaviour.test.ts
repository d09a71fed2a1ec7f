// Issue 9, "behaviour seen from real clients" (items 21–25): what a client of the OpenAI API sees
// when it sends what well-known SDKs and wrappers send. Runs against the embedded offline engine.

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { decodeItem, expectOpenAIError, generate, imagesBody, itemBytes, multipartForm, postForm, solidImage, warningsOf } from '../images-api-helpers.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => gateway.close());

describe('item 21: output_compression means the same on every provider (100 = least lossy)', () => {
  // openai-node src/resources/images.ts: "The compression level (0-100%) for the generated images …
  // defaults to 100"; OpenAI's image guide lowers it (e.g. 50) to get a smaller JPEG.
  it.each(['jpeg', 'webp'] as const)('a lower output_compression gives a smaller %s, 100 the largest', async (format) => {
    const request = { model: 'gpt-image-1', prompt: 'a detailed harbour at noon', output_format: format, seed: 11, size: '1024x1024' };
    const sizes: number[] = [];
    for (const compression of [100, 50, 10]) {
      const bytes = await itemBytes(imagesBody(await generate(gateway, { ...request, output_compression: compression })).data[0] ?? {});
      sizes.push(bytes.length);
    }
    expect(sizes[0]).toBeGreaterThan(sizes[1] ?? 0);
    expect(sizes[1]).toBeGreaterThan(sizes[2] ?? 0);
  });
});

describe("item 22: stream: true only for models whose catalog entry streams", () => {
  it('refuses dall-e-3 with a 400 naming stream, before any event stream', async () => {
    const response = await generate(gateway, { model: 'dall-e-3', prompt: 'a castle', stream: true });
    expect(response.headers.get('content-type')).not.toMatch(/event-stream/);
    expectOpenAIError(response, { status: 400, code: 'invalid_value', param: 'stream', mentions: ['dall-e-3', 'gpt-image-1'] });
  });

  it('still streams gpt-image-1', async () => {
    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-1', prompt: 'a castle', stream: true, size: '1024x1024' }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(await response.text()).toContain('image_generation.completed');
  });
});

describe('item 23: edit metadata reports what the output has', () => {
  it('an RGBA input edited with background auto answers background "transparent", and the image has alpha', async () => {
    const input = await solidImage(256, 256, { channels: 4, alpha: 0.35 });
    const response = await postForm(gateway, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'add a moon', size: '1024x1024' }, [{ field: 'image', data: input, filename: 'in.png', type: 'image/png' }]));
    const body = imagesBody(response);
    const image = await decodeItem(body.data[0] ?? {});
    expect(image.hasAlpha).toBe(true);
    expect(image.minAlpha).toBeLessThan(255);
    expect(body.background).toBe('transparent');
  });

  it('an opaque input edited with background auto answers "opaque", and the image has no alpha', async () => {
    const input = await solidImage(256, 256, { channels: 3 });
    const response = await postForm(gateway, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt: 'add a moon', size: '1024x1024' }, [{ field: 'image', data: input, filename: 'in.png', type: 'image/png' }]));
    const body = imagesBody(response);
    expect((await decodeItem(body.data[0] ?? {})).hasAlpha).toBe(false);
    expect(body.background).toBe('opaque');
  });
});

describe('item 24: warnings speak only of what the request carried', () => {
  it('no warning about style or quality when dall-e-3 got neither (the catalog defaults are not the client’s)', async () => {
    const response = await generate(gateway, { model: 'dall-e-3', prompt: 'a quiet lake' });
    imagesBody(response);
    expect(warningsOf(response)).not.toMatch(/style|quality/);
  });

  it('a style the client did send and the engine ignores is still reported', async () => {
    const response = await generate(gateway, { model: 'dall-e-3', prompt: 'a quiet lake', style: 'natural' });
    imagesBody(response);
    expect(warningsOf(response)).toContain("style 'natural'");
  });

  it('no quality warning on a dall-e-2 variation that sent none', async () => {
    const square = await solidImage(256, 256, { channels: 4, alpha: 255 });
    const response = await postForm(gateway, '/v1/images/variations', multipartForm({ model: 'dall-e-2', size: '256x256' }, [{ field: 'image', data: square, filename: 'in.png', type: 'image/png' }]));
    imagesBody(response);
    expect(warningsOf(response)).not.toMatch(/quality/);
  });
});

describe("item 25: what LangChain's DallEAPIWrapper sends (quality 'standard', style 'vivid')", () => {
  const langchain = { prompt: 'a red fox', n: 1, size: '1024x1024', quality: 'standard', style: 'vivid' };

  it('the relay alias sora_image maps standard → auto and drops style, each with a warning', async () => {
    const response = await generate(gateway, { ...langchain, model: 'sora_image', response_format: 'b64_json' });
    const image = await decodeItem(imagesBody(response).data[0] ?? {});
    expect([image.width, image.height]).toEqual([1024, 1024]);
    expect(warningsOf(response)).toContain("quality 'standard' is not offered by sora_image; used 'auto'");
    expect(warningsOf(response)).toContain('style is not supported by sora_image; ignored');
  });

  it("OpenAI's own gpt-image-1 answers as OpenAI does: 400 on quality 'standard'", async () => {
    expectOpenAIError(await generate(gateway, { ...langchain, model: 'gpt-image-1' }), { status: 400, code: 'invalid_value', param: 'quality' });
  });

  it('through the official SDK too', async () => {
    const client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const result = await client.images.generate({ model: 'sora_image', prompt: 'a red fox', quality: 'standard', style: 'vivid', response_format: 'b64_json' });
    expect(result.data?.[0]?.b64_json?.length).toBeGreaterThan(100);
  });
});
