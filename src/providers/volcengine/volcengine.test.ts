// The Seedream adapter against the Ark fake through the real guarded HTTP client: the bodies Ark
// receives per model, the results and usage, edits with reference images, and every error class.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { sendJson, startFakeServer } from '../../testing/fakes/shared.js';
import { defaultVolcengineFakeApiKey, startVolcengineFake } from '../../testing/fakes/volcengine.js';
import { abortAfter, downloadedMetadata, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createVolcengineProvider } from './index.js';

const upstream = useUpstreamFake(() => startVolcengineFake({ endpoints: { 'ep-20261203-fake45': 'doubao-seedream-4-5-251128' } }), 'file');
const seedream40 = 'doubao-seedream-4-0-250828';

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createVolcengineProvider({ channel: 'ark-test', baseURL: `${upstream.fake.url}/api/v3`, apiKey: defaultVolcengineFakeApiKey, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: seedream40, prompt: 'a red fox in snow', size: { width: 2048, height: 2048 }, aspectRatio: '1:1', ...overrides });
}

async function input(width: number, height: number): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: 3, background: '#3366aa' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

describe('Seedream generations', () => {
  it('sends the size as WxH, one image per call, no watermark, and returns the URL Ark answered with', async () => {
    const result = await model(seedream40).generate(callOptions({ size: { width: 2560, height: 1440 }, aspectRatio: '16:9' }));
    const request = upstream.fake.requests.at(-1);
    expect(request?.headers['authorization']).toBe(`Bearer ${defaultVolcengineFakeApiKey}`);
    expect(request?.json).toEqual({
      model: seedream40, prompt: 'a red fox in snow', size: '2560x1440', response_format: 'url', watermark: false,
      sequential_image_generation: 'disabled', stream: false,
    });
    expect(result.images).toHaveLength(1);
    const metadata = await downloadedMetadata(upstream.http, result.images[0]);
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['jpeg', 2560, 1440]);
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: (2560 * 1440) / 256 });
    expect(result.upstreamRequestId).toMatch(/^0217/);
    expect(result.warnings).toEqual([]);
  });

  it('raises a size below the model’s pixel floor (4.5 starts at 2560x1440) with a mapped warning', async () => {
    const result = await model('doubao-seedream-4-5-251128').generate(callOptions({ model: 'doubao-seedream-4-5-251128', size: { width: 1024, height: 1024 } }));
    const sent = String((upstream.fake.requests.at(-1)?.json as Record<string, unknown>)['size']);
    const [width = 0, height = 0] = sent.split('x').map(Number);
    expect(width).toBe(height);
    expect(width * height).toBeGreaterThanOrEqual(3_686_400);
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'size' })]);
  });

  it('asks 5.0-lite for png (its output_format) and 4.x for nothing (jpeg, converted by the gateway)', async () => {
    await model('doubao-seedream-5-0-260128').generate(callOptions({ model: 'doubao-seedream-5-0-260128', outputFormat: 'png' }));
    expect(upstream.fake.jobs.at(-1)?.body['output_format']).toBe('png');
    await model(seedream40).generate(callOptions({ outputFormat: 'png' }));
    expect(upstream.fake.jobs.at(-1)?.body).not.toHaveProperty('output_format');
  });

  it('passes Ark’s own fields (watermark, optimize_prompt_options), and reports seed, guidance_scale, sets and unknown fields as not sent', async () => {
    const result = await model(seedream40).generate(
      callOptions({
        seed: 42,
        quality: 'hd',
        providerOptions: { watermark: true, optimize_prompt_options: { mode: 'fast' }, guidance_scale: 3, sequential_image_generation_options: { max_images: 3 }, negative_prompt: 'blurry' },
      }),
    );
    const body = upstream.fake.jobs.at(-1)?.body;
    expect(body).toMatchObject({ watermark: true, optimize_prompt_options: { mode: 'fast' }, sequential_image_generation: 'disabled' });
    for (const field of ['seed', 'guidance_scale', 'negative_prompt']) expect(body).not.toHaveProperty(field);
    expect(body).not.toHaveProperty('sequential_image_generation_options');
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['guidance_scale', 'negative_prompt', 'quality', 'seed', 'sequential_image_generation_options']);
  });

  it('asks for a set in one call when the client does (auto, max_images = n) and returns every image Ark answers', async () => {
    const seedream = model(seedream40);
    expect(seedream.maxImagesPerSet).toBe(15);
    const before = upstream.fake.requests.length;
    const result = await seedream.generate(callOptions({ n: 4, providerOptions: { sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 4 } } }));
    expect(upstream.fake.requests.length).toBe(before + 1);
    expect(upstream.fake.jobs.at(-1)?.body).toMatchObject({ sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 4 }, stream: false });
    expect(result.images).toHaveLength(4);
    expect(new Set(result.images.map((image) => (image.kind === 'url' ? image.url : ''))).size).toBe(4);
    expect(result.usage).toEqual({ inputTokens: 0, outputTokens: (4 * 2048 * 2048) / 256 });
    expect(result.warnings).toEqual([]);
  });

  it('returns the smaller set Ark decides on (here 2 of at most 5), not padded to n', async () => {
    upstream.fake.switches.maxImages = 2;
    const result = await model(seedream40).generate(callOptions({ n: 5, providerOptions: { sequential_image_generation: 'auto' } }));
    expect(upstream.fake.jobs.at(-1)?.body['sequential_image_generation_options']).toEqual({ max_images: 5 });
    expect(result.images).toHaveLength(2);
  });

  it('has no sets on Seedream 3.0 (sequential_image_generation is 4.x/5.0 only)', () => {
    expect(model('doubao-seedream-3-0-t2i-250415').maxImagesPerSet).toBeUndefined();
  });

  it('uses the model behind an inference endpoint id for its rules', async () => {
    const endpoint = model('ep-20261203-fake45', { options: { endpoint_models: { 'ep-20261203-fake45': 'doubao-seedream-4-5-251128' } } });
    const result = await endpoint.generate(callOptions({ model: 'ep-20261203-fake45', size: { width: 1280, height: 720 }, aspectRatio: '16:9' }));
    expect(result.images).toHaveLength(1);
    expect(result.warnings[0]?.param).toBe('size');
  });

  it('rejects channel options of the wrong type when the model is built', () => {
    expect(() => model(seedream40, { options: { watermark: 'no' } })).toThrow(/options.watermark/);
  });
});

describe('Seedream edits', () => {
  it('sends one input as a data-URL string and several as an array, and warns that the mask is not used', async () => {
    const photo = await input(800, 600);
    const single = await model(seedream40).edit!(callOptions({ images: [photo], mask: photo }));
    const body = upstream.fake.jobs.at(-1)?.body;
    expect(typeof body?.['image']).toBe('string');
    expect(String(body?.['image'])).toMatch(/^data:image\/png;base64,/);
    expect(upstream.fake.jobs.at(-1)?.inputs).toEqual([{ width: 800, height: 600, format: 'png' }]);
    expect(single.warnings.map((warning) => warning.param)).toEqual(['mask']);

    await model(seedream40).edit!(callOptions({ images: [photo, await input(300, 300)] }));
    expect(upstream.fake.jobs.at(-1)?.inputs).toEqual([{ width: 800, height: 600, format: 'png' }, { width: 300, height: 300, format: 'png' }]);
  });

  it('refuses a 15th reference before calling, and Seedream 3.0 has no edit at all', async () => {
    const photo = await input(64, 64);
    const before = upstream.fake.requests.length;
    const error = await gatewayErrorOf(model(seedream40).edit!(callOptions({ images: Array.from({ length: 15 }, () => photo) })));
    expect([error.code, error.param]).toEqual(['invalid_value', 'image']);
    expect(upstream.fake.requests.length).toBe(before);
    const t2i = model('doubao-seedream-3-0-t2i-250415');
    expect(t2i.operations).toEqual(['generate']);
    expect(t2i.edit).toBeUndefined();
  });
});

describe('Seedream failures', () => {
  it('maps 401 AuthenticationError to upstream_auth_failed without the key', async () => {
    const error = await gatewayErrorOf(model(seedream40, { apiKey: 'ark-wrong-key-0000' }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_auth_failed', false]);
    expect(error.message).not.toContain('ark-wrong-key-0000');
  });

  it('maps 403 AccountOverdueError to upstream_out_of_funds (fail over), not to bad credentials', async () => {
    upstream.fake.switches.outOfFunds = true;
    const error = await gatewayErrorOf(model(seedream40).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_out_of_funds', true]);
  });

  it('maps 429 QuotaExceeded (free trial used up) to upstream_out_of_funds, unlike a rate limit', async () => {
    const quota = await startFakeServer((_request, response) =>
      sendJson(response, 429, { error: { code: 'QuotaExceeded', message: 'Your account has exhausted its free trial quota for the model.', param: '', type: 'TooManyRequests' } }),
    );
    try {
      const error = await gatewayErrorOf(model(seedream40, { baseURL: `${quota.url}/api/v3` }).generate(callOptions()));
      expect([error.code, error.retryable]).toEqual(['upstream_out_of_funds', true]);
    } finally {
      await quota.close();
    }
  });

  it('maps 429 RateLimitExceeded to upstream_rate_limited with retry-after', async () => {
    Object.assign(upstream.fake.switches, { failStatus: 429, retryAfterSeconds: 9 });
    const error = await gatewayErrorOf(model(seedream40).generate(callOptions()));
    expect([error.code, error.retryAfterSeconds]).toEqual(['upstream_rate_limited', 9]);
  });

  it('maps input and output moderation codes to content_policy_violation with the stage', async () => {
    upstream.fake.switches.moderation = 'input';
    const input = await gatewayErrorOf(model(seedream40).generate(callOptions()));
    expect([input.code, input.status]).toEqual(['content_policy_violation', 400]);
    expect(input.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['InputTextSensitiveContentDetected'] } });
    upstream.fake.switches.moderation = 'output';
    const output = await gatewayErrorOf(model(seedream40).generate(callOptions()));
    expect(output.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: ['OutputImageSensitiveContentDetected'] } });
  });

  it('maps an invalid parameter to invalid_value with Ark’s code, a 500 to a retryable upstream_error, a truncated body to upstream_invalid_response', async () => {
    const invalid = await gatewayErrorOf(model(seedream40).generate(callOptions({ providerOptions: { watermark: 'yes' } })));
    expect(invalid.code).toBe('invalid_value');
    expect(invalid.message).toContain('InvalidParameter');
    upstream.fake.switches.failStatus = 500;
    const failed = await gatewayErrorOf(model(seedream40).generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
    delete upstream.fake.switches.failStatus;
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(model(seedream40).generate(callOptions()))).code).toBe('upstream_invalid_response');
  });

  it('maps a deactivated model (404 InvalidEndpointOrModel.NotFound) to invalid_value naming it', async () => {
    const error = await gatewayErrorOf(model('doubao-seedream-3-0-t2i-250415').generate(callOptions({ model: 'doubao-seedream-3-0-t2i-250415', size: { width: 1024, height: 1024 } })));
    expect(error.code).toBe('invalid_value');
    expect(error.message).toContain('doubao-seedream-3-0-t2i-250415');
  });

  it('gives the caller its own abort reason when it gives up on a hung upstream', async () => {
    upstream.fake.switches.hang = true;
    const reason = new Error('client went away');
    await expect(model(seedream40).generate(callOptions({ abortSignal: abortAfter(reason, 100) }))).rejects.toBe(reason);
  });
});

describe('Seedream 3.0 t2i (still served by some accounts)', () => {
  it('sends seed and guidance_scale, and no Seedream 4 fields', async () => {
    const fake = await startVolcengineFake({ retiredModels: [] });
    try {
      const t2i = createVolcengineProvider({ channel: 'ark', baseURL: `${fake.url}/api/v3`, apiKey: defaultVolcengineFakeApiKey, http: upstream.http })('doubao-seedream-3-0-t2i-250415');
      const result = await t2i.generate(callOptions({ model: 'doubao-seedream-3-0-t2i-250415', size: { width: 1024, height: 1024 }, seed: 7, providerOptions: { guidance_scale: 2.5 } }));
      expect(fake.jobs.at(-1)?.body).toEqual({ model: 'doubao-seedream-3-0-t2i-250415', prompt: 'a red fox in snow', size: '1024x1024', response_format: 'url', watermark: false, seed: 7, guidance_scale: 2.5 });
      expect(result.warnings).toEqual([]);
    } finally {
      await fake.close();
    }
  });
});
