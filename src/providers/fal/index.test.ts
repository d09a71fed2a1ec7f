// The fal adapter against the fal fake, through the real guarded HTTP client.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, UpstreamJobRef } from '../../core/ports/image-model.js';
import { falFakeDefaultApiKey, startFalFake } from '../../testing/fakes/fal.js';
import { abortOnceJobRecorded, downloadedMetadata, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createFalProvider, moderationStageOf } from './index.js';

const upstream = useUpstreamFake(startFalFake, 'test');

function settings(overrides: Partial<ProviderSettings> = {}): ProviderSettings {
  return { channel: 'fal-test', baseURL: upstream.fake.url, apiKey: falFakeDefaultApiKey, http: upstream.http, pollIntervalMs: 5, timeoutMs: 5_000, ...overrides };
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({
    model: 'fal-ai/flux/dev',
    prompt: 'a lighthouse at dusk',
    // Small sizes keep the fake's images cheap to render.
    size: { width: 512, height: 384 },
    aspectRatio: '4:3',
    ...overrides,
  });
}

const submittedInput = (): Record<string, unknown> => upstream.fake.requests.find((request) => request.method === 'POST')?.json as Record<string, unknown>;

/** Submits to the fake directly, as a previous gateway process would have. */
async function submitDirectly(): Promise<UpstreamJobRef> {
  const response = await upstream.http.request(`${upstream.fake.url}/fal-ai/flux/dev`, {
    method: 'POST',
    headers: { authorization: `Key ${falFakeDefaultApiKey}` },
    json: { prompt: 'recorded', image_size: { width: 256, height: 256 } },
  });
  const submission = JSON.parse(response.body.toString('utf8')) as Record<string, string>;
  return {
    provider: 'fal',
    data: { request_id: submission['request_id'], status_url: submission['status_url'], response_url: submission['response_url'], cancel_url: submission['cancel_url'] },
  };
}

describe('fal adapter: endpoints without num_images (issue 10 item 3)', () => {
  it.each(['fal-ai/flux-2-pro', 'fal-ai/flux-2-max'])('%s takes one image per call and is sent no num_images', async (endpoint) => {
    const model = createFalProvider(settings())(endpoint);
    expect(model.maxImagesPerCall).toBe(1);
    const result = await model.generate(callOptions({ model: endpoint, n: 1 }));
    expect(submittedInput()).not.toHaveProperty('num_images');
    expect(result.images).toHaveLength(1);
  });

  it('the fake answers one image for flux-2-pro even when num_images is sent, as fal does', async () => {
    const response = await upstream.http.request(`${upstream.fake.url}/fal-ai/flux-2-pro`, {
      method: 'POST',
      headers: { authorization: `Key ${falFakeDefaultApiKey}` },
      json: { prompt: 'four?', num_images: 4, image_size: { width: 256, height: 256 } },
    });
    const submission = JSON.parse(response.body.toString('utf8')) as Record<string, string>;
    const job = { provider: 'fal', data: { request_id: submission['request_id'], status_url: submission['status_url'], response_url: submission['response_url'] } };
    const result = await createFalProvider(settings())('fal-ai/flux-2-pro').resume?.(job, callOptions({ model: 'fal-ai/flux-2-pro', n: 4 }));
    expect(result?.images).toHaveLength(1);
  });
});

describe('fal adapter: the request it sends', () => {
  it('submits to the queue with the Key header and every mapped input, then polls the returned URLs', async () => {
    const model = createFalProvider(settings())('fal-ai/flux/dev');
    expect(model.maxImagesPerCall).toBe(4);
    const jobs: UpstreamJobRef[] = [];
    const result = await model.generate(
      callOptions({
        n: 2,
        size: { width: 512, height: 512 },
        aspectRatio: '1:1',
        outputFormat: 'jpeg',
        seed: 7,
        providerOptions: { guidance_scale: 5 },
        onUpstreamJob: (job) => {
          jobs.push(job);
        },
      }),
    );

    const submit = upstream.fake.requests[0];
    expect(`${submit?.method} ${submit?.path}`).toBe('POST /fal-ai/flux/dev');
    expect(submit?.headers['authorization']).toBe(`Key ${falFakeDefaultApiKey}`);
    expect(submit?.json).toEqual({
      prompt: 'a lighthouse at dusk',
      num_images: 2,
      image_size: 'square',
      seed: 7,
      output_format: 'jpeg',
      enable_safety_checker: true,
      guidance_scale: 5,
    });

    const requestId = result.upstreamRequestId ?? '';
    const responseUrl = `${upstream.fake.url}/fal-ai/flux/requests/${requestId}`;
    expect(jobs).toEqual([{ provider: 'fal', data: { request_id: requestId, status_url: `${responseUrl}/status`, response_url: responseUrl, cancel_url: `${responseUrl}/cancel` } }]);
    const paths = upstream.fake.requests.map((request) => `${request.method} ${request.path}`);
    expect(paths).toContain(`GET /fal-ai/flux/requests/${requestId}/status?logs=0`);
    expect(paths).toContain(`GET /fal-ai/flux/requests/${requestId}`);

    expect(result.warnings).toEqual([]);
    expect(result.images).toHaveLength(2);
    expect(await downloadedMetadata(upstream.http, result.images[0])).toMatchObject({ format: 'jpeg', width: 512, height: 512 });
  });

  it('sends a non-preset size as pixels, and asks for png when webp is wanted (the core transcodes)', async () => {
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions({ outputFormat: 'webp' }));
    expect(submittedInput()).toMatchObject({ image_size: { width: 512, height: 384 }, output_format: 'png' });
    expect(result.warnings).toEqual([]);
    expect(await downloadedMetadata(upstream.http, result.images[0])).toMatchObject({ format: 'png', width: 512, height: 384 });
  });

  it('snaps a size off the 16-pixel grid and says so', async () => {
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions({ size: { width: 500, height: 300 }, aspectRatio: '5:3' }));
    const imageSize = submittedInput()['image_size'] as { width: number; height: number };
    expect(imageSize.width % 16).toBe(0);
    expect(imageSize.height % 16).toBe(0);
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'size' })]);
  });

  it('uses the nearest preset when the channel allows presets only', async () => {
    const result = await createFalProvider(settings({ options: { imageSize: 'preset' } }))('fal-ai/flux/schnell').generate(callOptions());
    expect(submittedInput()['image_size']).toBe('landscape_4_3');
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'size' })]);
  });

  it('sends an aspect ratio, not image_size, to the ultra model', async () => {
    await createFalProvider(settings())('fal-ai/flux-pro/v1.1-ultra').generate(callOptions({ size: { width: 1792, height: 1024 }, aspectRatio: '16:9' }));
    const input = submittedInput();
    expect(input['aspect_ratio']).toBe('16:9');
    expect(input).not.toHaveProperty('image_size');
  });

  it('reports every option fal cannot honour', async () => {
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(
      callOptions({ quality: 'high', style: 'natural', background: 'transparent', moderation: 'low', user: 'u-1', outputFormat: 'jpeg', outputCompression: 50 }),
    );
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['background', 'moderation', 'output_compression', 'quality', 'style', 'user']);
    expect(result.warnings.every((warning) => warning.type === 'unsupported')).toBe(true);
  });

  it('turns sync_mode data URIs into bytes', async () => {
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions({ outputFormat: 'jpeg', providerOptions: { sync_mode: true } }));
    const image = result.images[0];
    expect(image?.kind).toBe('bytes');
    if (image?.kind !== 'bytes') return;
    expect(image.mediaType).toBe('image/jpeg');
    expect(await sharp(image.data).metadata()).toMatchObject({ format: 'jpeg', width: 512, height: 384 });
  });
});

describe('fal adapter: the queue', () => {
  it('polls the status URL through IN_QUEUE and IN_PROGRESS until COMPLETED', async () => {
    upstream.fake.switches.pollsBeforeReady = 4;
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions());
    expect(result.images).toHaveLength(1);
    expect(upstream.fake.requests.filter((request) => request.path.includes('/status')).length).toBe(5);
  });

  it('resumes a recorded request without submitting again', async () => {
    upstream.fake.switches.pollsBeforeReady = 2;
    const job = await submitDirectly();
    const result = await createFalProvider(settings())('fal-ai/flux/dev').resume?.(job, callOptions());
    expect(result?.images).toHaveLength(1);
    expect(result?.upstreamRequestId).toBe(job.data['request_id']);
    expect(upstream.fake.submissions).toBe(1);
  });

  it('cancels a recorded request through its cancel URL', async () => {
    upstream.fake.switches.pollsBeforeReady = 100;
    const job = await submitDirectly();
    await createFalProvider(settings())('fal-ai/flux/dev').cancel?.(job);
    expect(upstream.fake.cancels).toBe(1);
    expect(upstream.fake.jobs.get(String(job.data['request_id']))?.canceled).toBe(true);
  });

  it('refuses recorded URLs that point away from the configured queue', async () => {
    const job: UpstreamJobRef = { provider: 'fal', data: { request_id: 'x', status_url: 'http://127.0.0.1:1/a/b/requests/x/status', response_url: 'http://127.0.0.1:1/a/b/requests/x' } };
    const error = await gatewayErrorOf(createFalProvider(settings())('fal-ai/flux/dev').resume?.(job, callOptions()) ?? Promise.resolve());
    expect(error.code).toBe('server_error');
    expect(upstream.fake.requests).toHaveLength(0);
  });

  it('cancels upstream with PUT cancel_url and rethrows the reason when the caller aborts', async () => {
    upstream.fake.switches.pollsBeforeReady = 10_000;
    const reason = new GatewayError('upstream_timeout', 'client went away');
    const outcome = createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions(abortOnceJobRecorded(reason)));
    await expect(outcome).rejects.toBe(reason);
    expect(upstream.fake.cancels).toBe(1);
    expect(upstream.fake.requests.at(-1)?.method).toBe('PUT');
    expect([...upstream.fake.jobs.values()][0]?.canceled).toBe(true);
  });

  it('gives up with upstream_timeout when the request never completes, and cancels it', async () => {
    upstream.fake.switches.pollsBeforeReady = 10_000;
    const error = await gatewayErrorOf(createFalProvider(settings({ timeoutMs: 150 }))('fal-ai/flux/dev').generate(callOptions()));
    expect(error.code).toBe('upstream_timeout');
    expect(upstream.fake.cancels).toBe(1);
  });
});

describe('fal adapter: moderation and short results', () => {
  it('never delivers black placeholders: all flagged is a content_policy_violation on the output', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions({ n: 2 })));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'output' } });
  });

  it('drops the flagged images, keeps the rest and warns', async () => {
    upstream.fake.switches.flaggedImageIndexes = [1];
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions({ n: 3 }));
    expect(result.images).toHaveLength(2);
    const jobId = result.upstreamRequestId ?? '';
    expect(result.images.map((image) => (image.kind === 'url' ? image.url : ''))).toEqual([`${upstream.fake.url}/files/${jobId}/0.png`, `${upstream.fake.url}/files/${jobId}/2.png`]);
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'other', message: expect.stringContaining('1 of 3') })]);
  });

  it('maps a content_policy_violation error on the prompt to an input moderation error', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'input' } });
  });

  it('returns the images that came when there are fewer than num_images', async () => {
    upstream.fake.switches.maxImages = 1;
    const result = await createFalProvider(settings())('fal-ai/flux/dev').generate(callOptions({ n: 4 }));
    expect(submittedInput()['num_images']).toBe(4);
    expect(result.images).toHaveLength(1);
  });

  it('tells the moderation stage from fal error details', () => {
    expect(moderationStageOf([{ location: ['body', 'prompt'], message: 'flagged', type: 'content_policy_violation' }])).toBe('input');
    expect(moderationStageOf([{ location: ['body'], message: 'The generated image was flagged', type: 'content_policy_violation' }])).toBe('output');
    expect(moderationStageOf([{ location: ['body', 'prompt'], message: 'field required', type: 'value_error.missing' }])).toBeUndefined();
  });
});

describe('fal adapter: failures', () => {
  const generate = (overrides: Partial<ProviderSettings> = {}, options: Partial<ImageCallOptions> = {}) =>
    createFalProvider(settings(overrides))('fal-ai/flux/dev').generate(callOptions(options));

  it('maps a rejected key to upstream_auth_failed without echoing it', async () => {
    const error = await gatewayErrorOf(generate({ apiKey: 'wrong-key-id:wrong-key-secret' }));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.message).not.toContain('wrong-key');
  });

  it('maps an exhausted balance (403 "User is locked") to upstream_out_of_funds, not a credentials failure (issue 10 item 10)', async () => {
    upstream.fake.switches.failStatus = 403;
    const error = await gatewayErrorOf(generate());
    expect([error.code, error.retryable]).toEqual(['upstream_out_of_funds', true]);
  });

  it('maps 429 to upstream_rate_limited with the retry-after seconds', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 9;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryAfterSeconds).toBe(9);
  });

  it('maps 5xx to a retryable upstream_error', async () => {
    upstream.fake.switches.failStatus = 500;
    const error = await gatewayErrorOf(generate());
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });

  it('maps a 422 validation error from the result fetch to invalid_value', async () => {
    const error = await gatewayErrorOf(generate({}, { providerOptions: { num_images: 9 } }));
    expect(error.code).toBe('invalid_value');
    expect(error.message).toContain('num_images');
  });

  it('times out a submission that never answers', async () => {
    upstream.fake.switches.hang = true;
    expect((await gatewayErrorOf(generate({ timeoutMs: 200 }))).code).toBe('upstream_timeout');
  });

  it('reports a truncated result body as upstream_invalid_response', async () => {
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(generate())).code).toBe('upstream_invalid_response');
  });
});
