// POST /v1/images/variations end to end: dall-e-2 semantics (one square PNG under 4 MB, its
// sizes, n, response_format), multipart only, and no other model.

import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { decodeItem, expectOpenAIError, imagesBody, multipartForm, paddedPng, postForm, postJson, solidImage } from './images-api-helpers.js';

let gateway: TestGateway;
let client: OpenAI;
let square: Buffer;

beforeAll(async () => {
  gateway = await startTestGateway();
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  square = await solidImage(200, 200, { channels: 3, colour: { r: 220, g: 140, b: 30 } });
});
afterAll(async () => gateway.close());

/** Posts a variation request as multipart; `images` defaults to the one square source. */
const vary = (fields: Record<string, string>, images: Buffer[] = [square]) =>
  postForm(gateway, '/v1/images/variations', multipartForm(fields, images.map((data) => ({ field: 'image', data }))));

describe('dall-e-2 variations', () => {
  it('the SDK gets a signed URL to a 1024x1024 PNG by default', async () => {
    const result = await client.images.createVariation({ image: await toFile(square, 'source.bin') });
    expect(result.data).toHaveLength(1);
    const url = result.data?.[0]?.url ?? '';
    expect(url.startsWith(`${gateway.url}/v1/files/`)).toBe(true);
    const image = await decodeItem({ url });
    expect([image.format, image.width, image.height]).toEqual(['png', 1024, 1024]);
  });

  it.each([
    ['256x256', 256],
    ['512x512', 512],
  ])('size %s, n 2, b64_json: two distinct images of that size', async (size, edge) => {
    const result = await client.images.createVariation({ image: await toFile(square, 'source.png'), size: size as '256x256', n: 2, response_format: 'b64_json', model: 'dall-e-2' });
    expect(result.data).toHaveLength(2);
    expect(result.data?.[0]?.b64_json).not.toBe(result.data?.[1]?.b64_json);
    for (const item of result.data ?? []) {
      const image = await decodeItem(item);
      expect([image.format, image.width, image.height]).toEqual(['png', edge, edge]);
    }
  });

  it('a square PNG with alpha is accepted', async () => {
    expect((await vary({ size: '256x256' }, [await solidImage(64, 64, { alpha: 0.3 })])).status).toBe(200);
  });
});

describe('rejected variations', () => {
  it('a non-square image is a 400 naming image and its size', async () => {
    expectOpenAIError(await vary({}, [await solidImage(300, 200)]), { status: 400, code: 'invalid_image', param: 'image', mentions: ['square', '300x200'] });
  });

  it('a JPEG is a 400 invalid_image_format', async () => {
    expectOpenAIError(await vary({}, [await solidImage(64, 64, { format: 'jpeg', channels: 3 })]), { status: 400, code: 'invalid_image_format', param: 'image', mentions: ['PNG'] });
  });

  it('a PNG of 4 MB is a 400 image_too_large', async () => {
    expectOpenAIError(await vary({}, [await paddedPng(64, 4 * 1024 * 1024)]), { status: 400, code: 'image_too_large', param: 'image', mentions: ['4 MB'] });
  });

  it('garbage is a 400 invalid_image_format', async () => {
    expectOpenAIError(await vary({}, [Buffer.from('GIF? no, just text')]), { status: 400, code: 'invalid_image_format', param: 'image' });
  });

  it('no image is a 400 missing_required_parameter', async () => {
    expectOpenAIError(await vary({ n: '1' }, []), { status: 400, code: 'missing_required_parameter', param: 'image' });
  });

  it('two images are a 400', async () => {
    expectOpenAIError(await vary({}, [square, square]), { status: 400, code: 'invalid_value', param: 'image' });
  });

  it('a size dall-e-2 does not make is a 400 listing its sizes', async () => {
    expectOpenAIError(await vary({ size: '1792x1024' }), { status: 400, code: 'invalid_value', param: 'size', mentions: ['256x256', '512x512', '1024x1024'] });
  });

  it('n outside 1..10 is a 400', async () => {
    expectOpenAIError(await vary({ n: '11' }), { status: 400, code: 'invalid_value', param: 'n', mentions: ['between 1 and 10'] });
    expectOpenAIError(await vary({ n: '0' }), { status: 400, code: 'invalid_value', param: 'n' });
  });

  it('a response_format other than url or b64_json is a 400', async () => {
    expectOpenAIError(await vary({ response_format: 'jpeg' }), { status: 400, code: 'invalid_value', param: 'response_format', mentions: ['url', 'b64_json'] });
  });

  it('stream is a 400: variations cannot be streamed', async () => {
    expectOpenAIError(await vary({ stream: 'true' }), { status: 400, code: 'invalid_value', param: 'stream' });
  });

  it.each(['dall-e-3', 'gpt-image-1', 'gpt-image-2', 'sora_image', 'flux-kontext-pro'])('model %s is a 400 naming model and dall-e-2', async (model) => {
    expectOpenAIError(await vary({ model }), { status: 400, code: 'invalid_value', param: 'model', mentions: [model, 'dall-e-2'] });
  });

  it('an unknown model is a 404 model_not_found', async () => {
    expectOpenAIError(await vary({ model: 'dall-e-1' }), { status: 404, code: 'model_not_found', param: 'model' });
  });

  it('a JSON body is a 415', async () => {
    const response = await postJson(gateway, '/v1/images/variations', { image: `data:image/png;base64,${square.toString('base64')}` });
    expectOpenAIError(response, { status: 415, code: 'unsupported_media_type', mentions: ['multipart/form-data'] });
  });

  it('plain text is a 415', async () => {
    const response = await postJson(gateway, '/v1/images/variations', 'image', { 'content-type': 'text/plain' });
    expectOpenAIError(response, { status: 415, code: 'unsupported_media_type' });
  });

  it('without a key it is a 401', async () => {
    const response = await postForm(gateway, '/v1/images/variations', multipartForm({}, [{ field: 'image', data: square }]), { authorization: 'Bearer nope' });
    expectOpenAIError(response, { status: 401, code: 'invalid_api_key' });
  });
});
