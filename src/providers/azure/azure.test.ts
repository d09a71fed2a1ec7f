// The azure adapter against the OpenAI fake's Azure deployment routes over real HTTP.

import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, InputImage } from '../../core/ports/image-model.js';
import { makeTestImage } from '../../testing/fakes/shared.js';
import { startOpenAIFake } from '../../testing/fakes/openai.js';
import { abortAfter, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createAzureProvider, defaultAzureApiVersion } from './index.js';

const apiKey = 'azure-key-0123456789abcdef0123456789';
const upstream = useUpstreamFake(() => startOpenAIFake({ apiKey, azureDeployments: { 'images-prod': 'gpt-image-1', 'dalle3-east': 'dall-e-3', 'dall-e-3': 'dall-e-3' } }), 'file');

function provider(overrides: Partial<ProviderSettings> = {}, options: Record<string, unknown> = {}) {
  return createAzureProvider({
    channel: 'azure-test',
    baseURL: upstream.fake.url,
    apiKey,
    http: upstream.http,
    options: { deployments: { 'gpt-image-1': 'images-prod', 'dall-e-3': 'dalle3-east' }, ...options },
    ...overrides,
  });
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'gpt-image-1', prompt: 'a lighthouse on a cliff', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', quality: 'low', ...overrides });
}

async function inputImage(seed: number): Promise<InputImage> {
  return { data: await makeTestImage(64, 64, 'png', seed), mediaType: 'image/png', width: 64, height: 64 };
}

const lastRequest = () => {
  const request = upstream.fake.requests.at(-1);
  if (!request) throw new Error('the fake received nothing');
  return request;
};

describe('requests', () => {
  it('calls the deployment URL with api-key, the default api-version, and no model in the body', async () => {
    const result = await provider()('gpt-image-1').generate(callOptions({ n: 2 }));
    const request = lastRequest();
    expect(request.path).toBe(`/openai/deployments/images-prod/images/generations?api-version=${defaultAzureApiVersion}`);
    expect(request.headers['api-key']).toBe(apiKey);
    expect(request.headers['authorization']).toBeUndefined();
    expect(request.json).toEqual({ prompt: 'a lighthouse on a cliff', n: 2, size: '1024x1024', quality: 'low', output_format: 'png' });
    expect(result.images).toHaveLength(2);
    expect(result.images[0]?.kind).toBe('bytes');
    expect(result.usage?.outputTokens).toBeGreaterThan(0);
    expect(result.upstreamRequestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('uses the model name as the deployment when unmapped, and the configured api-version', async () => {
    const model = createAzureProvider({ channel: 'c', baseURL: `${upstream.fake.url}/openai/`, apiKey, http: upstream.http, options: { api_version: '2024-10-21' } })('dall-e-3');
    await expect(model.generate(callOptions({ model: 'dall-e-3', quality: undefined }))).resolves.toBeDefined();
    expect(lastRequest().path).toBe('/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21');
    expect(lastRequest().json).toMatchObject({ response_format: 'b64_json' });
  });

  it('sends edits as multipart to the deployment’s edits URL', async () => {
    const result = await provider()('gpt-image-1').edit?.(callOptions({ images: [await inputImage(1), await inputImage(2)], mask: await inputImage(3) }));
    const request = lastRequest();
    expect(request.path).toBe(`/openai/deployments/images-prod/images/edits?api-version=${defaultAzureApiVersion}`);
    const form = await new Response(request.body, { headers: { 'content-type': String(request.headers['content-type']) } }).formData();
    expect(form.getAll('image[]')).toHaveLength(2);
    expect(form.get('mask')).toBeInstanceOf(Blob);
    expect(form.has('model')).toBe(false);
    expect(result?.images).toHaveLength(1);
  });

  it('offers no variations (Azure has none), and dall-e-3 generations only', () => {
    expect(provider()('gpt-image-1').operations).toEqual(['generate', 'edit']);
    expect(provider()('dall-e-2').variation).toBeUndefined();
    expect(provider()('dall-e-3').operations).toEqual(['generate']);
    expect(provider()('dall-e-3').maxImagesPerCall).toBe(1);
  });

  it('rejects settings it cannot use when the channel is built', () => {
    expect(() => provider({ baseURL: '' })).toThrow(/baseURL/);
    expect(() => provider({}, { api_version: 'latest' })).toThrow(/api_version/);
    expect(() => provider({}, { deployments: { 'gpt-image-1': 3 } })).toThrow(/deployments/);
  });
});

describe('failures', () => {
  it('a wrong key → upstream_auth_failed without the key', async () => {
    const error = await gatewayErrorOf(provider({ apiKey: 'azure-wrong-key-secret-0001' })('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(JSON.stringify(error.toBody())).not.toContain('azure-wrong-key-secret-0001');
  });

  it('429 → upstream_rate_limited with retryAfterSeconds', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 12;
    const error = await gatewayErrorOf(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryAfterSeconds).toBe(12);
  });

  it('500 → retryable upstream_error', async () => {
    upstream.fake.switches.failStatus = 500;
    const error = await gatewayErrorOf(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });

  it('a flagged prompt (content_filter) → moderation_blocked at the input stage for gpt-image', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(provider()('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('moderation_blocked');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['sexual'] } });
  });

  it('a filtered image (contentFilter) → content_policy_violation at the output stage for dall-e-3', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(provider()('dall-e-3').generate(callOptions({ model: 'dall-e-3', quality: undefined })));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'output' } });
  });

  it('an unknown deployment → a non-retryable upstream_error naming the channel config, not the client', async () => {
    const error = await gatewayErrorOf(provider({}, { deployments: { 'gpt-image-1': 'missing' } })('gpt-image-1').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('deployment');
  });

  it('a hanging deployment → upstream_timeout; a malformed body → upstream_invalid_response', async () => {
    upstream.fake.switches.hang = true;
    expect((await gatewayErrorOf(provider({ timeoutMs: 200 })('gpt-image-1').generate(callOptions()))).code).toBe('upstream_timeout');
    upstream.fake.switches.hang = false;
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(provider()('gpt-image-1').generate(callOptions()))).code).toBe('upstream_invalid_response');
  });

  it('abort → rejects with the abort reason', async () => {
    upstream.fake.switches.hang = true;
    const reason = new Error('gave up');
    const pending = provider()('gpt-image-1').generate(callOptions({ abortSignal: abortAfter(reason, 20) }));
    await expect(pending).rejects.toBe(reason);
  });
});
