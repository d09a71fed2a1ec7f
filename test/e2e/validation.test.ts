// Every request-validation rule of the Images API over real HTTP: each violation is a 400 that
// names the param and lists what is allowed; the wire-level failures (bad JSON, wrong content
// type, oversized body, unknown model or route, missing key) have their own status, and every
// error is exactly OpenAI's shape.

import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { expectOpenAIError, generate, imagesBody, multipartForm, postForm, postJson, readResponse, solidImage } from './images-api-helpers.js';

let gateway: TestGateway;
/** A gateway whose body limit is small enough to cross with an ordinary request. */
let smallBodies: TestGateway;
const smallBodyLimit = 8 * 1024;

beforeAll(async () => {
  [gateway, smallBodies] = await Promise.all([startTestGateway(), startTestGateway({ bodyLimitBytes: smallBodyLimit })]);
});
afterAll(async () => {
  await Promise.all([gateway.close(), smallBodies.close()]);
});

interface RuleCase {
  name: string;
  body: Record<string, unknown>;
  param: string;
  code?: string;
  /** Words the message must contain: the allowed values or bounds. */
  mentions: string[];
}

const prompt = 'a lighthouse';

const rules: RuleCase[] = [
  // n
  { name: 'n below 1', body: { prompt, n: 0 }, param: 'n', mentions: ['between 1 and 10'] },
  { name: 'n above 10', body: { prompt, model: 'gpt-image-1', n: 11 }, param: 'n', mentions: ['between 1 and 10'] },
  { name: 'n not an integer', body: { prompt, n: 1.5 }, param: 'n', mentions: ['between 1 and 10'] },
  { name: 'n as a string in JSON', body: { prompt, n: '2' }, param: 'n', mentions: ['integer'] },
  { name: 'dall-e-3 with n 2', body: { prompt, model: 'dall-e-3', n: 2 }, param: 'n', mentions: ['must be 1'] },
  // sizes per model
  { name: 'dall-e-2 size', body: { prompt, model: 'dall-e-2', size: '1792x1024' }, param: 'size', mentions: ['256x256', '512x512', '1024x1024', 'auto'] },
  { name: 'dall-e-3 size', body: { prompt, model: 'dall-e-3', size: '512x512' }, param: 'size', mentions: ['1024x1024', '1792x1024', '1024x1792'] },
  { name: 'gpt-image-1 size', body: { prompt, model: 'gpt-image-1', size: '2048x2048' }, param: 'size', mentions: ['1024x1024', '1536x1024', '1024x1536', 'auto'] },
  { name: 'sora_image size', body: { prompt, model: 'sora_image', size: '1792x1024' }, param: 'size', mentions: ['1536x1024'] },
  { name: 'gpt-image-2 not a multiple of 16', body: { prompt, model: 'gpt-image-2', size: '1000x1000' }, param: 'size', mentions: ['multiples of 16'] },
  { name: 'gpt-image-2 too few pixels', body: { prompt, model: 'gpt-image-2', size: '512x512' }, param: 'size', mentions: ['at least 655360 pixels'] },
  { name: 'gpt-image-2 too many pixels', body: { prompt, model: 'gpt-image-2', size: '3840x2176' }, param: 'size', mentions: ['at most 8294400 pixels'] },
  { name: 'gpt-image-2 edge over 3840', body: { prompt, model: 'gpt-image-2', size: '3856x1024' }, param: 'size', mentions: ['at most 3840'] },
  { name: 'gpt-image-2 ratio over 3:1', body: { prompt, model: 'gpt-image-2', size: '3072x960' }, param: 'size', mentions: ['1:3', '3:1'] },
  { name: 'gpt-image-2 not WIDTHxHEIGHT', body: { prompt, model: 'gpt-image-2', size: 'big' }, param: 'size', mentions: ['WIDTHxHEIGHT', 'multiples of 16'] },
  { name: 'flux-1.1-pro edge over 1440', body: { prompt, model: 'flux-1.1-pro', size: '2048x1024' }, param: 'size', mentions: ['at most 1440'] },
  { name: 'flux-1.1-pro not a multiple of 32', body: { prompt, model: 'flux-1.1-pro', size: '1000x800' }, param: 'size', mentions: ['multiples of 32'] },
  { name: 'flux-kontext-pro size that is no size', body: { prompt, model: 'flux-kontext-pro', size: '00x00' }, param: 'size', mentions: ['WIDTHxHEIGHT'] },
  // enums
  { name: 'gpt-image-1 quality', body: { prompt, model: 'gpt-image-1', quality: 'hd' }, param: 'quality', mentions: ["'low', 'medium', 'high', and 'auto'"] },
  { name: 'dall-e-3 quality', body: { prompt, model: 'dall-e-3', quality: 'high' }, param: 'quality', mentions: ['standard', 'hd'] },
  { name: 'dall-e-2 quality', body: { prompt, model: 'dall-e-2', quality: 'hd' }, param: 'quality', mentions: ['standard'] },
  { name: 'dall-e-3 style', body: { prompt, model: 'dall-e-3', style: 'anime' }, param: 'style', mentions: ['vivid', 'natural'] },
  { name: 'gpt-image-1 background', body: { prompt, model: 'gpt-image-1', background: 'clear' }, param: 'background', mentions: ['transparent', 'opaque', 'auto'] },
  { name: 'dall-e-3 transparent background', body: { prompt, model: 'dall-e-3', background: 'transparent' }, param: 'background', mentions: ['opaque', 'auto'] },
  { name: 'output_format', body: { prompt, model: 'gpt-image-1', output_format: 'gif' }, param: 'output_format', mentions: ['png', 'jpeg', 'webp'] },
  { name: 'moderation', body: { prompt, model: 'gpt-image-1', moderation: 'strict' }, param: 'moderation', mentions: ['low', 'auto'] },
  { name: 'response_format', body: { prompt, response_format: 'png' }, param: 'response_format', mentions: ['url', 'b64_json'] },
  // prompt
  { name: 'prompt missing', body: { model: 'dall-e-2' }, param: 'prompt', code: 'missing_required_parameter', mentions: ['prompt'] },
  { name: 'prompt empty', body: { prompt: '   ' }, param: 'prompt', mentions: ['empty'] },
  { name: 'prompt not a string', body: { prompt: 42 }, param: 'prompt', mentions: ['string'] },
  { name: 'dall-e-2 prompt over 1000', body: { model: 'dall-e-2', prompt: 'a'.repeat(1001) }, param: 'prompt', mentions: ['1000'] },
  { name: 'dall-e-3 prompt over 4000', body: { model: 'dall-e-3', prompt: 'a'.repeat(4001) }, param: 'prompt', mentions: ['4000'] },
  { name: 'gpt-image-1 prompt over 32000', body: { model: 'gpt-image-1', prompt: 'a'.repeat(32001) }, param: 'prompt', mentions: ['32000'] },
  { name: 'flux prompt over 10000', body: { model: 'flux-kontext-pro', prompt: 'a'.repeat(10001) }, param: 'prompt', mentions: ['10000'] },
  // combinations and extensions
  { name: 'transparent with jpeg', body: { prompt, model: 'gpt-image-1', background: 'transparent', output_format: 'jpeg' }, param: 'background', mentions: ['png', 'webp'] },
  { name: 'size against aspect_ratio', body: { prompt, model: 'gpt-image-1', size: '1024x1024', aspect_ratio: '16:9' }, param: 'aspect_ratio', mentions: ['1024x1024', '16:9'] },
  { name: 'unsupported aspect_ratio', body: { prompt, aspect_ratio: '5:4' }, param: 'aspect_ratio', mentions: ['21:9', '16:9', '4:3', '3:2', '1:1', '2:3', '3:4', '9:16', '9:21'] },
  { name: 'output_compression over 100', body: { prompt, model: 'gpt-image-1', output_format: 'jpeg', output_compression: 101 }, param: 'output_compression', mentions: ['between 0 and 100'] },
  { name: 'output_compression below 0', body: { prompt, model: 'gpt-image-1', output_format: 'webp', output_compression: -1 }, param: 'output_compression', mentions: ['between 0 and 100'] },
  { name: 'output_compression not a number', body: { prompt, model: 'gpt-image-1', output_format: 'jpeg', output_compression: 'high' }, param: 'output_compression', mentions: ['between 0 and 100'] },
  { name: 'partial_images over 3', body: { prompt, model: 'gpt-image-1', stream: true, partial_images: 4 }, param: 'partial_images', mentions: ['between 0 and 3'] },
  { name: 'stream not a boolean', body: { prompt, model: 'gpt-image-1', stream: 'yes' }, param: 'stream', mentions: ['boolean'] },
  { name: 'seed negative', body: { prompt, seed: -1 }, param: 'seed', mentions: ['between 0 and'] },
  { name: 'user not a string', body: { prompt, user: 7 }, param: 'user', mentions: ['string'] },
  { name: 'model not a string', body: { prompt, model: 3 }, param: 'model', mentions: ['string'] },
];

describe('every validation rule is a 400 naming the param and what is allowed', () => {
  it.each(rules)('$name', async ({ body, param, code, mentions }) => {
    const response = await generate(gateway, body);
    const error = expectOpenAIError(response, { status: 400, code: code ?? 'invalid_value', param, mentions });
    // Nothing to retry: the SDK must not resend it.
    expect(response.headers.get('x-should-retry')).toBe('false');
    expect(error.type).toBe('invalid_request_error');
  });

  it('the limits themselves are allowed: prompt at the maximum, n at the maximum, compression 0 and 100', async () => {
    imagesBody(await generate(gateway, { model: 'dall-e-2', prompt: 'a'.repeat(1000), size: '256x256' }));
    const ten = imagesBody(await generate(gateway, { model: 'dall-e-2', prompt, n: 10, size: '256x256', response_format: 'b64_json' }));
    expect(ten.data).toHaveLength(10);
    imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt, output_format: 'jpeg', output_compression: 0 }));
    imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt, output_format: 'jpeg', output_compression: 100 }));
    imagesBody(await generate(gateway, { model: 'gpt-image-2', prompt, size: '3840x2160', output_format: 'jpeg' }));
  });

  it('the SDK surfaces a rule violation as BadRequestError with param and code', async () => {
    const client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await client.images.generate({ model: 'gpt-image-1', prompt, quality: 'standard' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const badRequest = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect([badRequest.status, badRequest.param, badRequest.code]).toEqual([400, 'quality', 'invalid_value']);
    expect(badRequest.requestID).toMatch(/^req_/);
  });
});

describe('models and endpoints', () => {
  it('an unknown model is a 404 model_not_found', async () => {
    expectOpenAIError(await generate(gateway, { prompt, model: 'dall-e-9' }), { status: 404, code: 'model_not_found', param: 'model', mentions: ['dall-e-9'] });
  });

  it('the SDK sees an unknown model as NotFoundError', async () => {
    const client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await client.images.generate({ model: 'no-such-model', prompt }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('edits on a model that cannot edit is a 400 naming model and the models that can', async () => {
    const image = await solidImage(64, 64);
    for (const model of ['dall-e-3', 'flux-1.1-pro']) {
      const response = await postForm(gateway, '/v1/images/edits', multipartForm({ model, prompt }, [{ field: 'image', data: image }]));
      expectOpenAIError(response, { status: 400, code: 'invalid_value', param: 'model', mentions: [model, 'gpt-image-1'] });
    }
  });

  it('an unknown route is a 404 in the same shape', async () => {
    const response = await readResponse(await fetch(`${gateway.url}/v1/images/upscale`, { method: 'POST', headers: { authorization: `Bearer ${gateway.apiKey}` } }));
    expectOpenAIError(response, { status: 404, code: 'not_found', param: null });
  });
});

describe('wire-level failures', () => {
  it('malformed JSON is a 400 invalid_json', async () => {
    expectOpenAIError(await generate(gateway, '{"prompt": "x",'), { status: 400, code: 'invalid_json', param: null });
    expectOpenAIError(await generate(gateway, ''), { status: 400, code: 'invalid_json', param: null });
  });

  it.each(['[1, 2]', '"a prompt"', '42', 'null', 'true'])('non-object JSON %s is a 400', async (text) => {
    expectOpenAIError(await generate(gateway, text), { status: 400, code: 'invalid_json', param: null, mentions: ['JSON object'] });
  });

  it.each([
    ['text/plain', 'prompt=a cat'],
    ['application/x-www-form-urlencoded', 'prompt=a+cat'],
    ['application/xml', '<prompt>a cat</prompt>'],
  ])('content type %s is a 415', async (contentType, body) => {
    const response = await generate(gateway, body, { 'content-type': contentType });
    expectOpenAIError(response, { status: 415, code: 'unsupported_media_type', param: null, mentions: ['application/json'] });
  });

  it('multipart to generations is a 415', async () => {
    const response = await postForm(gateway, '/v1/images/generations', multipartForm({ prompt, model: 'dall-e-2' }, []));
    expectOpenAIError(response, { status: 415, code: 'unsupported_media_type', mentions: ['JSON'] });
  });

  it('plain text to edits is a 415, not a JSON error', async () => {
    const response = await postJson(gateway, '/v1/images/edits', 'prompt=a cat', { 'content-type': 'text/plain' });
    expectOpenAIError(response, { status: 415, code: 'unsupported_media_type' });
  });

  it('a JSON body over the limit is a 413', async () => {
    const response = await generate(smallBodies, { model: 'gpt-image-1', prompt: 'a'.repeat(smallBodyLimit + 10) });
    expectOpenAIError(response, { status: 413, code: 'request_too_large', param: null });
    // Just under the limit still works.
    imagesBody(await generate(smallBodies, { model: 'dall-e-2', prompt: 'a'.repeat(900), size: '256x256' }));
  });

  it('a multipart body over the limit is a 413 too', async () => {
    // Random pixels do not compress, so this PNG is far larger than the limit.
    const pixels = Buffer.from(Array.from({ length: 96 * 96 * 3 }, (_, index) => (index * 7919) % 251));
    const noisy = await sharp(pixels, { raw: { width: 96, height: 96, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    expect(noisy.length).toBeGreaterThan(smallBodyLimit);
    const edit = await postForm(smallBodies, '/v1/images/edits', multipartForm({ model: 'gpt-image-1', prompt }, [{ field: 'image', data: noisy }]));
    expectOpenAIError(edit, { status: 413, code: 'request_too_large' });
    const variation = await postForm(smallBodies, '/v1/images/variations', multipartForm({}, [{ field: 'image', data: noisy }]));
    expectOpenAIError(variation, { status: 413, code: 'request_too_large' });
    // A small upload to the same gateway passes.
    const small = await postForm(smallBodies, '/v1/images/variations', multipartForm({ size: '256x256' }, [{ field: 'image', data: await solidImage(32, 32) }]));
    expect(small.status).toBe(200);
  });

  it('a missing or wrong key is a 401 invalid_api_key that never echoes the key', async () => {
    const missing = await generate(gateway, { prompt }, { authorization: '' });
    expectOpenAIError(missing, { status: 401, code: 'invalid_api_key', param: null });
    const wrong = await generate(gateway, { prompt }, { authorization: 'Bearer sk-wrong-key-0000000000' });
    const error = expectOpenAIError(wrong, { status: 401, code: 'invalid_api_key', param: null });
    expect(error.message).not.toContain('sk-wrong-key-0000000000');
  });
});
