// The openai adapter against the OpenAI fake over real HTTP: what the upstream receives, how results map, every failure mode.

import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { makeTestImage } from '../../testing/fakes/shared.js';
import { startOpenAIFake, type OpenAIFake } from '../../testing/fakes/openai.js';
import { useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { GuardedHttpClient } from '../shared/http-client.js';
import type { ProviderSettings } from '../shared/types.js';
import { createOpenAIProvider } from './index.js';

const apiKey = 'sk-live-secretvalue0123456789';
// One fake for the file, its switches cleared after each test (src/testing/provider-test-kit.ts).
// A relay that still serves DALL·E and gpt-image-1.5: the adapter keeps their wire rules for such upstreams.
const upstream = useUpstreamFake(() => startOpenAIFake({ apiKey, servesRetiredModels: true }), 'file');
let fake: OpenAIFake;
let http: GuardedHttpClient;

beforeAll(() => {
  fake = upstream.fake;
  http = upstream.http;
});

function provider(overrides: Partial<ProviderSettings> = {}) {
  return createOpenAIProvider({ channel: 'test', baseURL: `${fake.url}/v1`, apiKey, http, ...overrides });
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return {
    model: 'gpt-image-1',
    prompt: 'a red fox in the snow',
    n: 1,
    size: { width: 1024, height: 1024 },
    aspectRatio: '1:1',
    outputFormat: 'png',
    providerOptions: {},
    images: [],
    abortSignal: new AbortController().signal,
    ...overrides,
  };
}

async function inputImage(width = 64, height = 64, seed = 1, filename?: string): Promise<InputImage> {
  return { data: await makeTestImage(width, height, 'png', seed), mediaType: 'image/png', width, height, ...(filename ? { filename } : {}) };
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

const lastRequest = () => {
  const request = fake.requests.at(-1);
  if (!request) throw new Error('the fake received nothing');
  return request;
};

async function lastForm(): Promise<FormData> {
  const request = lastRequest();
  return new Response(request.body, { headers: { 'content-type': String(request.headers['content-type']) } }).formData();
}

describe('generations', () => {
  it('sends gpt-image options under their OpenAI names, without response_format, and maps bytes and usage', async () => {
    const model = provider()('gpt-image-1');
    const result = await model.generate(
      callOptions({ n: 2, size: { width: 1536, height: 1024 }, aspectRatio: '3:2', quality: 'low', background: 'opaque', outputFormat: 'webp', outputCompression: 80, moderation: 'low', user: 'user-42' }),
    );

    const request = lastRequest();
    expect(request.path).toBe('/v1/images/generations');
    expect(request.headers['authorization']).toBe(`Bearer ${apiKey}`);
    expect(request.json).toEqual({
      model: 'gpt-image-1',
      prompt: 'a red fox in the snow',
      n: 2,
      size: '1536x1024',
      quality: 'low',
      background: 'opaque',
      moderation: 'low',
      output_format: 'webp',
      output_compression: 80,
      user: 'user-42',
    });

    expect(result.images).toHaveLength(2);
    const first = result.images[0];
    expect(first?.kind).toBe('bytes');
    if (first?.kind !== 'bytes') return;
    expect(first.mediaType).toBe('image/webp');
    const metadata = await sharp(first.data).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['webp', 1536, 1024]);
    expect(result.usage?.inputTokens).toBeGreaterThan(0);
    expect(result.usage?.outputTokens).toBeGreaterThan(0);
    expect(result.usage?.inputTextTokens).toBe(result.usage?.inputTokens);
    expect(result.usage?.inputImageTokens).toBe(0);
    expect(result.upstreamRequestId).toMatch(/^req_/);
    expect(result.warnings).toEqual([]);
  });

  it('maps size and quality for gpt-image with warnings, and reports style and seed as unsupported', async () => {
    const result = await provider()('gpt-image-1').generate(
      callOptions({ size: { width: 1280, height: 720 }, aspectRatio: '16:9', quality: 'hd', style: 'vivid', seed: 7 }),
    );
    const body = lastRequest().json as Record<string, unknown>;
    expect(body['size']).toBe('1536x1024');
    expect(body['quality']).toBe('high');
    expect(body).not.toHaveProperty('style');
    expect(body).not.toHaveProperty('seed');
    expect(result.warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'mapped', param: 'size' }),
        expect.objectContaining({ type: 'mapped', param: 'quality' }),
        expect.objectContaining({ type: 'unsupported', param: 'style' }),
        expect.objectContaining({ type: 'unsupported', param: 'seed' }),
      ]),
    );
  });

  it.each([
    [{ width: 4000, height: 1000 }, '4:1'],
    [{ width: 1000, height: 1000 }, '1:1'],
    [{ width: 512, height: 512 }, '1:1'],
  ])('maps %j to a size gpt-image-2 accepts', async (size, aspectRatio) => {
    const result = await provider()('gpt-image-2').generate(callOptions({ model: 'gpt-image-2', size, aspectRatio, quality: 'low' }));
    const sent = String((lastRequest().json as Record<string, unknown>)['size']);
    const [width, height] = sent.split('x').map(Number) as [number, number];
    expect(width % 16).toBe(0);
    expect(height % 16).toBe(0);
    expect(Math.max(width, height) / Math.min(width, height)).toBeLessThanOrEqual(3);
    expect(result.images).toHaveLength(1);
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'size' })]);
  });

  it('asks DALL·E 3 for b64_json, keeps the revised prompt, and allows one image per call', async () => {
    const model = provider()('dall-e-3');
    expect(model.maxImagesPerCall).toBe(1);
    expect(model.operations).toEqual(['generate']);
    expect(model.edit).toBeUndefined();
    const result = await model.generate(callOptions({ model: 'dall-e-3', size: { width: 1792, height: 1024 }, aspectRatio: '16:9', style: 'natural', quality: 'standard' }));
    expect(lastRequest().json).toEqual({
      model: 'dall-e-3',
      prompt: 'a red fox in the snow',
      n: 1,
      size: '1792x1024',
      quality: 'standard',
      style: 'natural',
      response_format: 'b64_json',
    });
    const image = result.images[0];
    expect(image?.kind).toBe('bytes');
    expect(image?.revisedPrompt).toContain('a red fox in the snow');
    expect(result.usage).toBeUndefined();
  });

  it('passes size, seed and providerOptions to a compatible server as-is, and returns its URLs for the core to download', async () => {
    const result = await provider()('sdxl-turbo').generate(
      callOptions({ model: 'sdxl-turbo', size: { width: 768, height: 512 }, aspectRatio: '3:2', seed: 42, providerOptions: { steps: 4, negative_prompt: 'blurry', response_format: 'url' } }),
    );
    expect(lastRequest().json).toEqual({
      model: 'sdxl-turbo',
      prompt: 'a red fox in the snow',
      n: 1,
      size: '768x512',
      output_format: 'png',
      seed: 42,
      response_format: 'url',
      steps: 4,
      negative_prompt: 'blurry',
    });
    const image = result.images[0];
    expect(image?.kind).toBe('url');
    if (image?.kind !== 'url') return;
    const download = await fetch(image.url);
    expect(download.status).toBe(200);
    expect((await sharp(Buffer.from(await download.arrayBuffer())).metadata()).width).toBe(768);
  });

  it('returns an already-expired URL as it is: downloading (and failing) is the core’s job', async () => {
    fake.switches.resultUrlTtlMs = 0;
    const result = await provider()('dall-e-2').generate(callOptions({ model: 'dall-e-2', size: { width: 256, height: 256 }, providerOptions: { response_format: 'url' } }));
    const image = result.images[0];
    expect(image?.kind).toBe('url');
    if (image?.kind !== 'url') return;
    expect((await fetch(image.url)).status).toBe(403);
  });

  it('honours max_images_per_call, except above dall-e-3’s limit, and rejects a bad value', () => {
    expect(provider({ options: { max_images_per_call: 4 } })('gpt-image-1').maxImagesPerCall).toBe(4);
    expect(provider({ options: { max_images_per_call: 4 } })('dall-e-3').maxImagesPerCall).toBe(1);
    expect(provider({ options: { max_images_per_call: 16 } })('local-model').maxImagesPerCall).toBe(16);
    expect(provider()('gpt-image-1').maxImagesPerCall).toBe(10);
    expect(() => provider({ options: { max_images_per_call: 0 } })('gpt-image-1')).toThrow(/max_images_per_call/);
  });

  it('sends organization and project headers when configured', async () => {
    await provider({ options: { organization: 'org-1', project: 'proj-1' } })('gpt-image-1').generate(callOptions({ quality: 'low' }));
    expect(lastRequest().headers['openai-organization']).toBe('org-1');
    expect(lastRequest().headers['openai-project']).toBe('proj-1');
  });
});

describe('edits and variations', () => {
  // Issue 10 item 5: the fake refuses `moderation` on edits (unknown_parameter), as the API does.
  it('sends moderation on generations but never on edits, where it is reported as unsupported', async () => {
    const model = provider()('gpt-image-1');
    await model.generate(callOptions({ moderation: 'low', quality: 'low' }));
    expect(lastRequest().json).toMatchObject({ moderation: 'low' });
    const edited = await model.edit?.(callOptions({ moderation: 'low', quality: 'low', images: [await inputImage()] }));
    expect((await lastForm()).has('moderation')).toBe(false);
    expect(edited?.warnings).toContainEqual(expect.objectContaining({ type: 'unsupported', param: 'moderation' }));
  });

  // Issue 10 item 12: gpt-image-2 and gpt-image-1-mini answer 400 invalid_input_fidelity_model.
  it.each(['gpt-image-2', 'gpt-image-1-mini'])('leaves input_fidelity out for %s (it would be refused), with a warning', async (upstreamModel) => {
    const edited = await provider()(upstreamModel).edit?.(callOptions({ model: upstreamModel, quality: 'low', providerOptions: { input_fidelity: 'high' }, images: [await inputImage()] }));
    expect((await lastForm()).has('input_fidelity')).toBe(false);
    expect(edited?.warnings).toContainEqual(expect.objectContaining({ type: 'unsupported', param: 'input_fidelity' }));
  });

  it('sends input_fidelity to gpt-image-1', async () => {
    await provider()('gpt-image-1').edit?.(callOptions({ quality: 'low', providerOptions: { input_fidelity: 'high' }, images: [await inputImage()] }));
    expect((await lastForm()).get('input_fidelity')).toBe('high');
  });

  it('sends one image as `image`, with numbers as text', async () => {
    const result = await provider()('gpt-image-1').edit?.(callOptions({ n: 2, quality: 'low', images: [await inputImage(64, 64, 1, 'fox.png')] }));
    expect(lastRequest().path).toBe('/v1/images/edits');
    const form = await lastForm();
    expect(form.get('prompt')).toBe('a red fox in the snow');
    expect(form.get('n')).toBe('2');
    expect(form.get('model')).toBe('gpt-image-1');
    expect(form.has('response_format')).toBe(false);
    const image = form.get('image');
    expect(image).toBeInstanceOf(Blob);
    expect((image as File).name).toBe('fox.png');
    expect(form.has('image[]')).toBe(false);
    expect(result?.images).toHaveLength(2);
    expect(result?.usage?.inputImageTokens).toBeGreaterThan(0);
  });

  it('sends several images as repeated `image[]`, the mask as `mask`, and providerOptions as text', async () => {
    const result = await provider()('gpt-image-1').edit?.(
      callOptions({
        quality: 'low',
        images: [await inputImage(64, 64, 1), await inputImage(64, 64, 2)],
        mask: await inputImage(64, 64, 3),
        providerOptions: { input_fidelity: 'high' },
      }),
    );
    const form = await lastForm();
    expect(form.getAll('image[]')).toHaveLength(2);
    expect(form.has('image')).toBe(false);
    expect(form.get('mask')).toBeInstanceOf(Blob);
    expect(form.get('input_fidelity')).toBe('high');
    expect(result?.images[0]?.kind).toBe('bytes');
  });

  it('makes variations with a multipart `image` and no prompt', async () => {
    const model = provider()('dall-e-2');
    expect(model.operations).toEqual(['generate', 'edit', 'variation']);
    const result = await model.variation?.(callOptions({ model: 'dall-e-2', prompt: '', n: 2, size: { width: 512, height: 512 }, images: [await inputImage(64, 64)] }));
    expect(lastRequest().path).toBe('/v1/images/variations');
    const form = await lastForm();
    expect(form.get('image')).toBeInstanceOf(Blob);
    expect(form.has('prompt')).toBe(false);
    expect(form.get('response_format')).toBe('b64_json');
    expect(form.get('size')).toBe('512x512');
    expect(result?.images).toHaveLength(2);
  });

  it('lets a channel narrow a compatible server’s operations', () => {
    const model = provider({ options: { operations: ['generate'] } })('local-sd');
    expect(model.operations).toEqual(['generate']);
    expect(model.variation).toBeUndefined();
  });
});

describe('failures', () => {
  it('a wrong key → upstream_auth_failed, never quoting the key', async () => {
    const error = await failure(provider({ apiKey: 'sk-wrong-butsecret-987654321' })('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('sk-wrong');
    expect(JSON.stringify(error.toBody())).not.toContain('987654321');
  });

  it('429 → retryable upstream_rate_limited with retryAfterSeconds', async () => {
    fake.switches.failStatus = 429;
    fake.switches.retryAfterSeconds = 7;
    const error = await failure(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterSeconds).toBe(7);
  });

  it.each([500, 503])('%i → retryable upstream_error', async (status) => {
    fake.switches.failStatus = status;
    const error = await failure(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });

  it('a hanging upstream → upstream_timeout', async () => {
    fake.switches.hang = true;
    const error = await failure(provider({ timeoutMs: 200 })('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_timeout');
    expect(error.retryable).toBe(true);
  });

  it('input moderation on gpt-image → moderation_blocked at the input stage', async () => {
    fake.switches.moderation = 'input';
    const error = await failure(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('moderation_blocked');
    expect(error.status).toBe(400);
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['sexual'] } });
  });

  it('output moderation on DALL·E → content_policy_violation at the output stage', async () => {
    fake.switches.moderation = 'output';
    const error = await failure(provider()('dall-e-3').generate(callOptions({ model: 'dall-e-3' })));
    expect(error.code).toBe('content_policy_violation');
    expect(error.status).toBe(400);
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'output' } });
  });

  it('a validation error keeps the upstream param and message', async () => {
    const error = await failure(provider()('gpt-image-1').generate(callOptions({ providerOptions: { size: '512x512' } })));
    expect(error.code).toBe('invalid_value');
    expect(error.status).toBe(400);
    expect(error.param).toBe('size');
    expect(error.message).toContain('512x512');
  });

  it('a malformed body → upstream_invalid_response', async () => {
    fake.switches.malformed = true;
    const error = await failure(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
    expect(error.retryable).toBe(true);
  });

  it('fewer images than asked → what arrived, with a warning', async () => {
    fake.switches.maxImages = 1;
    const result = await provider()('gpt-image-1').generate(callOptions({ n: 3, quality: 'low' }));
    expect(result.images).toHaveLength(1);
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'other', param: 'n' })]);
  });

  it('an unreachable upstream → retryable upstream_error', async () => {
    const closed = await startOpenAIFake({ apiKey });
    await closed.close();
    const error = await failure(provider({ baseURL: `${closed.url}/v1` })('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });

  it('abort → rejects promptly with the abort reason', async () => {
    fake.switches.hang = true;
    const controller = new AbortController();
    const model: ImageModel = provider()('gpt-image-1');
    const pending = model.generate(callOptions({ abortSignal: controller.signal }));
    const reason = new Error('client went away');
    setTimeout(() => controller.abort(reason), 20);
    await expect(pending).rejects.toBe(reason);
  });
});
