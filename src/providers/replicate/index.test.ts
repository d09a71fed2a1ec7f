// The Replicate adapter against the Replicate fake, through the real guarded HTTP client.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, UpstreamJobRef } from '../../core/ports/image-model.js';
import { replicateFakeDefaultApiKey, startReplicateFake } from '../../testing/fakes/replicate.js';
import { abortOnceJobRecorded, downloadedMetadata, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createReplicateProvider, moderationStageOf } from './index.js';

const upstream = useUpstreamFake(startReplicateFake, 'test');

function settings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return { channel: 'replicate-test', baseURL: `${upstream.fake.url}/v1`, apiKey: replicateFakeDefaultApiKey, http: upstream.http, pollIntervalMs: 5, timeoutMs: 5_000, ...overrides };
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({
    model: 'black-forest-labs/flux-schnell',
    prompt: 'a lighthouse at dusk',
    size: { width: 1024, height: 1024 },
    aspectRatio: '1:1',
    // A quarter megapixel keeps the fake's images small and the tests fast.
    providerOptions: { megapixels: '0.25' },
    ...overrides,
  });
}

/** Creates a prediction on the fake directly, as a previous gateway process would have. */
async function createPredictionDirectly(): Promise<UpstreamJobRef> {
  const response = await upstream.http.request(`${upstream.fake.url}/v1/models/black-forest-labs/flux-schnell/predictions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${replicateFakeDefaultApiKey}` },
    json: { input: { prompt: 'recorded', megapixels: '0.25' } },
  });
  const prediction = JSON.parse(response.body.toString('utf8')) as { id: string; urls: { get: string; cancel: string } };
  return { provider: 'replicate', data: { id: prediction.id, get_url: prediction.urls.get, cancel_url: prediction.urls.cancel } };
}

describe('Replicate adapter: the request it sends', () => {
  it('creates a prediction on the model route with Prefer: wait and every mapped input', async () => {
    const model = createReplicateProvider(settings())('black-forest-labs/flux-schnell');
    expect(model.maxImagesPerCall).toBe(4);
    const jobs: UpstreamJobRef[] = [];
    const result = await model.generate(
      callOptions({
        n: 2,
        size: { width: 1792, height: 1024 },
        aspectRatio: '16:9',
        outputFormat: 'jpeg',
        outputCompression: 70,
        seed: 42,
        providerOptions: { megapixels: '0.25', go_fast: false },
        onUpstreamJob: (job) => {
          jobs.push(job);
        },
      }),
    );

    const create = upstream.fake.requests.find((request) => request.method === 'POST');
    expect(create?.path).toBe('/v1/models/black-forest-labs/flux-schnell/predictions');
    expect(create?.headers['authorization']).toBe(`Bearer ${replicateFakeDefaultApiKey}`);
    expect(create?.headers['prefer']).toMatch(/^wait=([1-9]|[1-5][0-9]|60)$/);
    expect(create?.json).toEqual({
      input: { prompt: 'a lighthouse at dusk', num_outputs: 2, aspect_ratio: '16:9', output_format: 'jpg', output_quality: 70, seed: 42, megapixels: '0.25', go_fast: false },
    });

    // Issue 10 item 9: the asked 1792x1024 becomes about a quarter megapixel at 16:9, and says so.
    expect(result.warnings).toEqual([
      { type: 'mapped', param: 'size', message: 'size 1792x1024 is not available for black-forest-labs/flux-schnell; using about 0.25 megapixels (688x384).' },
    ]);
    expect(result.images).toHaveLength(2);
    const metadata = await downloadedMetadata(upstream.http, result.images[0]);
    expect(metadata.format).toBe('jpeg');
    expect((metadata.width ?? 0) / (metadata.height ?? 1)).toBeCloseTo(16 / 9, 1);

    const predictionId = result.upstreamRequestId ?? '';
    expect(jobs).toEqual([
      {
        provider: 'replicate',
        data: { id: predictionId, get_url: `${upstream.fake.url}/v1/predictions/${predictionId}`, cancel_url: `${upstream.fake.url}/v1/predictions/${predictionId}/cancel` },
      },
    ]);
  });

  it('maps an unlisted ratio to the nearest FLUX ratio and reports every option it cannot honour', async () => {
    const model = createReplicateProvider(settings())('black-forest-labs/flux-schnell');
    const result = await model.generate(
      callOptions({ size: { width: 1400, height: 1000 }, aspectRatio: '7:5', quality: 'high', style: 'vivid', background: 'transparent', user: 'user-1' }),
    );
    expect((upstream.fake.requests[0]?.json as { input: Record<string, unknown> }).input['aspect_ratio']).toBe('4:3');
    expect(result.warnings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'mapped', param: 'size' }),
        expect.objectContaining({ type: 'unsupported', param: 'quality' }),
        expect.objectContaining({ type: 'unsupported', param: 'style' }),
        expect.objectContaining({ type: 'unsupported', param: 'background' }),
        expect.objectContaining({ type: 'unsupported', param: 'user' }),
      ]),
    );
    expect(result.warnings).toHaveLength(5);
  });

  it('sends no num_outputs to a single-output model and reads its single URL output', async () => {
    const model = createReplicateProvider(settings())('black-forest-labs/flux-1.1-pro');
    expect(model.maxImagesPerCall).toBe(1);
    const result = await model.generate(callOptions({ outputFormat: 'webp' }));
    const input = (upstream.fake.requests[0]?.json as { input: Record<string, unknown> }).input;
    expect(input).not.toHaveProperty('num_outputs');
    expect(input['output_format']).toBe('webp');
    expect(result.images).toHaveLength(1);
    expect((await downloadedMetadata(upstream.http, result.images[0])).format).toBe('webp');
  });

  it('uses /v1/predictions with the version id for the owner/name:version form', async () => {
    const version = 'b'.repeat(64);
    const model = createReplicateProvider(settings())(`black-forest-labs/flux-schnell:${version}`);
    const result = await model.generate(callOptions());
    expect(upstream.fake.requests[0]?.path).toBe('/v1/predictions');
    expect(upstream.fake.requests[0]?.json).toMatchObject({ version, input: { prompt: 'a lighthouse at dusk' } });
    expect(result.images).toHaveLength(1);
  });

  it('rejects a model name that is not owner/name', () => {
    expect(() => createReplicateProvider(settings())('flux-schnell')).toThrow(GatewayError);
  });
});

describe('Replicate adapter: asynchronous predictions', () => {
  it('polls urls.get until the prediction succeeds, reporting progress from the logs', async () => {
    upstream.fake.switches.pollsBeforeReady = 4;
    const progress: number[] = [];
    const result = await createReplicateProvider(settings())('black-forest-labs/flux-schnell').generate(callOptions({ onProgress: (percent) => progress.push(percent) }));
    expect(result.images).toHaveLength(1);
    expect(upstream.fake.requests.filter((request) => request.method === 'GET' && request.path.startsWith('/v1/predictions/')).length).toBe(5);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('resumes a recorded prediction without creating another one', async () => {
    upstream.fake.switches.pollsBeforeReady = 2;
    const job = await createPredictionDirectly();
    const result = await createReplicateProvider(settings())('black-forest-labs/flux-schnell').resume?.(job, callOptions());
    expect(result?.images).toHaveLength(1);
    expect(upstream.fake.submissions).toBe(1);
  });

  it('cancels a recorded prediction through its cancel URL', async () => {
    upstream.fake.switches.pollsBeforeReady = 100;
    const job = await createPredictionDirectly();
    await createReplicateProvider(settings())('black-forest-labs/flux-schnell').cancel?.(job);
    expect(upstream.fake.cancels).toBe(1);
    expect(upstream.fake.predictions.get(String(job.data['id']))?.status).toBe('canceled');
  });

  it('refuses to follow recorded URLs that point away from the configured API', async () => {
    const job: UpstreamJobRef = { provider: 'replicate', data: { id: 'x', get_url: 'http://127.0.0.1:1/v1/predictions/x', cancel_url: 'http://127.0.0.1:1/v1/predictions/x/cancel' } };
    const error = await gatewayErrorOf(createReplicateProvider(settings())('black-forest-labs/flux-schnell').resume?.(job, callOptions()) ?? Promise.resolve());
    expect(error.code).toBe('server_error');
    expect(upstream.fake.requests).toHaveLength(0);
  });

  it('cancels upstream and rethrows the reason when the caller aborts while polling', async () => {
    upstream.fake.switches.pollsBeforeReady = 10_000;
    const reason = new GatewayError('upstream_timeout', 'client went away');
    const outcome = createReplicateProvider(settings())('black-forest-labs/flux-schnell').generate(callOptions(abortOnceJobRecorded(reason)));
    await expect(outcome).rejects.toBe(reason);
    expect(upstream.fake.cancels).toBe(1);
    expect([...upstream.fake.predictions.values()][0]?.status).toBe('canceled');
  });

  it('gives up with upstream_timeout when the prediction does not finish in time, and cancels it', async () => {
    upstream.fake.switches.pollsBeforeReady = 10_000;
    const error = await gatewayErrorOf(createReplicateProvider(settings({ timeoutMs: 150 }))('black-forest-labs/flux-schnell').generate(callOptions()));
    expect(error.code).toBe('upstream_timeout');
    expect(upstream.fake.cancels).toBe(1);
  });

  it('reports deleted outputs (data_removed) instead of handing out dead URLs', async () => {
    const job = await createPredictionDirectly();
    const model = createReplicateProvider(settings())('black-forest-labs/flux-schnell');
    await model.resume?.(job, callOptions());
    upstream.fake.switches.resultUrlTtlMs = 1;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const error = await gatewayErrorOf(model.resume?.(job, callOptions()) ?? Promise.resolve());
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('data_removed');
  });
});

describe('Replicate adapter: failures', () => {
  const generate = (overrides: Partial<ProviderSettings> = {}, options: Partial<ImageCallOptions> = {}) =>
    createReplicateProvider(settings(overrides))('black-forest-labs/flux-schnell').generate(callOptions(options));

  it('maps a rejected token to upstream_auth_failed without echoing the key', async () => {
    const error = await gatewayErrorOf(generate({ apiKey: 'r8_not_the_right_token_at_all' }));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('r8_not_the_right_token_at_all');
  });

  it('maps 402 to a retryable upstream_out_of_funds', async () => {
    upstream.fake.switches.failStatus = 402;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('upstream_out_of_funds');
    expect(error.message).toContain('out of credit');
  });

  it('maps 429 to upstream_rate_limited with the retry-after seconds', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 7;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterSeconds).toBe(7);
  });

  it('maps 5xx to a retryable upstream_error', async () => {
    upstream.fake.switches.failStatus = 503;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });

  it('maps a 422 validation failure to invalid_value with the upstream detail', async () => {
    const error = await gatewayErrorOf(generate({}, { providerOptions: { aspect_ratio: '7:3' } }));
    expect(error.code).toBe('invalid_value');
    expect(error.status).toBe(400);
    expect(error.message).toContain('aspect_ratio');
  });

  it('times out a create call that never answers', async () => {
    upstream.fake.switches.hang = true;
    const error = await gatewayErrorOf(generate({ timeoutMs: 200 }));
    expect(error.code).toBe('upstream_timeout');
  });

  it('reports a truncated prediction body as upstream_invalid_response', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('upstream_invalid_response');
  });

  it('maps an E005 sensitive-input failure to a content_policy_violation on the input', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: [] } });
  });

  it('maps an NSFW-detected failure to a content_policy_violation on the output', async () => {
    upstream.fake.switches.moderation = 'output';
    upstream.fake.switches.pollsBeforeReady = 1;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: [] } });
  });

  it('returns the outputs that came when there are fewer than num_outputs', async () => {
    upstream.fake.switches.maxImages = 1;
    const result = await generate({}, { n: 3 });
    expect((upstream.fake.requests[0]?.json as { input: Record<string, unknown> }).input['num_outputs']).toBe(3);
    expect(result.images).toHaveLength(1);
  });

  it('tells the moderation stage from Replicate failure texts', () => {
    expect(moderationStageOf('NSFW content detected. Try running it again, or try a different prompt.')).toBe('output');
    expect(moderationStageOf('The input or output was flagged as sensitive. Please try again with different inputs. (E005)')).toBe('input');
    expect(moderationStageOf('The output was flagged as sensitive. (E005)')).toBe('output');
    expect(moderationStageOf('CUDA out of memory')).toBeUndefined();
  });
});

describe('Replicate adapter: each model by its own input schema (issue 10 items 1, 2, 8, 9)', () => {
  const created = () => upstream.fake.requests.find((request) => request.method === 'POST')?.json as { input: Record<string, unknown> };

  it('item 8: sends flux-1.1-pro exact pixels through aspect_ratio custom, and gets that size back', async () => {
    const result = await createReplicateProvider(settings())('black-forest-labs/flux-1.1-pro').generate(
      callOptions({ model: 'black-forest-labs/flux-1.1-pro', size: { width: 1344, height: 768 }, aspectRatio: '7:4', outputFormat: 'png', providerOptions: {} }),
    );
    expect(created().input).toMatchObject({ aspect_ratio: 'custom', width: 1344, height: 768 });
    expect(result.warnings).toEqual([]);
    const metadata = await downloadedMetadata(upstream.http, result.images[0]);
    expect([metadata.width, metadata.height]).toEqual([1344, 768]);
  });

  it('item 1: never sends flux-1.1-pro a ratio outside its list (21:9 goes as custom pixels)', async () => {
    await createReplicateProvider(settings())('black-forest-labs/flux-1.1-pro').generate(
      callOptions({ model: 'black-forest-labs/flux-1.1-pro', size: { width: 1344, height: 576 }, aspectRatio: '21:9', providerOptions: {} }),
    );
    expect(created().input['aspect_ratio']).toBe('custom');
  });

  it('item 1: maps 21:9 to the nearest of flux-1.1-pro-ultra’s own ratios and kontext’s', async () => {
    for (const model of ['black-forest-labs/flux-1.1-pro-ultra', 'black-forest-labs/flux-kontext-pro']) {
      upstream.fake.requests.length = 0;
      await createReplicateProvider(settings())(model).generate(callOptions({ model, size: { width: 1344, height: 576 }, aspectRatio: '21:9', providerOptions: {} }));
      expect(created().input['aspect_ratio']).toBe('21:9');
    }
  });

  it('item 2: asks kontext and ultra for png when webp (or compressed jpeg) is wanted, and sends no output_quality', async () => {
    for (const model of ['black-forest-labs/flux-1.1-pro-ultra', 'black-forest-labs/flux-kontext-pro']) {
      for (const format of [{ outputFormat: 'webp' as const }, { outputFormat: 'jpeg' as const, outputCompression: 60 }]) {
        upstream.fake.requests.length = 0;
        const result = await createReplicateProvider(settings())(model).generate(callOptions({ model, ...format, providerOptions: {} }));
        expect(created().input).toMatchObject({ output_format: 'png' });
        expect(created().input).not.toHaveProperty('output_quality');
        expect(result.images).toHaveLength(1);
      }
    }
    upstream.fake.requests.length = 0;
    await createReplicateProvider(settings())('black-forest-labs/flux-kontext-pro').generate(callOptions({ model: 'black-forest-labs/flux-kontext-pro', outputFormat: 'jpeg', providerOptions: {} }));
    expect(created().input['output_format']).toBe('jpg');
  });

  it('item 9: a size above a megapixel on flux-schnell is sent at megapixels "1" (the default) with a warning naming what is rendered', async () => {
    const result = await createReplicateProvider(settings())('black-forest-labs/flux-schnell').generate(
      callOptions({ size: { width: 2048, height: 2048 }, aspectRatio: '1:1', providerOptions: {} }),
    );
    expect(created().input).toMatchObject({ aspect_ratio: '1:1' });
    expect(created().input).not.toHaveProperty('megapixels');
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size', message: expect.stringContaining('size 2048x2048 is not available') }));
    expect(result.warnings[0]?.message).toContain('1024x1024');
  });

  it('item 9: an exact 1 MP ratio size needs no warning; 512x512 is sent as megapixels "0.25"', async () => {
    const exact = await createReplicateProvider(settings())('black-forest-labs/flux-schnell').generate(callOptions({ size: { width: 1024, height: 1024 }, providerOptions: {} }));
    expect(exact.warnings).toEqual([]);
    upstream.fake.requests.length = 0;
    const quarter = await createReplicateProvider(settings())('black-forest-labs/flux-schnell').generate(callOptions({ size: { width: 512, height: 512 }, providerOptions: {} }));
    expect(created().input['megapixels']).toBe('0.25');
    expect(quarter.warnings).toEqual([]);
  });
});
