// The Google adapter against the Google fake through the real guarded HTTP client: what Google
// receives, how its answers become images, usage and warnings, and how every failure is reported.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { googleFakeDefaultApiKey, startGoogleFake } from '../../testing/fakes/google.js';
import { abortAfter, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createGoogleProvider } from './index.js';

const upstream = useUpstreamFake(startGoogleFake, 'file');

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createGoogleProvider({ channel: 'google-test', baseURL: `${upstream.fake.url}/v1beta`, apiKey: googleFakeDefaultApiKey, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'gemini-2.5-flash-image', prompt: 'a watercolor fox', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

function lastJson(): any {
  return upstream.fake.requests.at(-1)?.json;
}

async function dimensions(data: Buffer): Promise<[number | undefined, number | undefined]> {
  const metadata = await sharp(data).metadata();
  return [metadata.width, metadata.height];
}

describe('Gemini image models (generateContent)', () => {
  it('sends the prompt, aspect ratio, tier and seed with the key header, and returns the image with usage', async () => {
    // Gemini 3 Pro Image under its GA id (Gemini API changelog, 2026-05-28).
    const gemini = model('gemini-3-pro-image');
    expect(gemini.maxImagesPerCall).toBe(1);
    const result = await gemini.generate(callOptions({ model: 'gemini-3-pro-image', size: { width: 2048, height: 1152 }, aspectRatio: '16:9', seed: 42 }));

    const sent = upstream.fake.requests.at(-1);
    expect(sent?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(sent?.headers['x-goog-api-key']).toBe(googleFakeDefaultApiKey);
    expect(lastJson()).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'a watercolor fox' }] }],
      generationConfig: { responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '16:9', imageSize: '2K' }, seed: 42 },
    });

    expect(result.images).toHaveLength(1);
    const image = result.images[0];
    if (image?.kind !== 'bytes') throw new Error('expected bytes');
    expect(image.mediaType).toBe('image/png');
    expect(await dimensions(image.data)).toEqual([2752, 1536]);
    expect(result.usage).toMatchObject({ outputTokens: 1120, inputTextTokens: result.usage?.inputTokens });
    expect(result.upstreamRequestId).toEqual(expect.any(String));
    // 2048x1152 is more than 1K's area, so 2K, whose 16:9 image is 2752x1536: the client is told.
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'size', message: expect.stringContaining('2K tier at 16:9') })]);
  });

  it('never sends imageSize to Gemini 2.5, and says when the asked size cannot be met', async () => {
    const result = await model('gemini-2.5-flash-image').generate(callOptions({ size: { width: 2048, height: 2048 } }));
    expect(lastJson().generationConfig.imageConfig).toEqual({ aspectRatio: '1:1' });
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));
    const image = result.images[0];
    if (image?.kind !== 'bytes') throw new Error('expected bytes');
    expect(await dimensions(image.data)).toEqual([1024, 1024]);
  });

  it('maps an aspect ratio Gemini lacks to the nearest one, with a warning', async () => {
    const result = await model('gemini-2.5-flash-image').generate(callOptions({ size: { width: 1024, height: 512 }, aspectRatio: '2:1' }));
    expect(lastJson().generationConfig.imageConfig.aspectRatio).toBe('16:9');
    expect(result.warnings.some((warning) => warning.param === 'size' && warning.message.includes('16:9'))).toBe(true);
  });

  it('sends edit images as inlineData parts (a GIF as PNG) and reports the mask it cannot use', async () => {
    const png = await sharp({ create: { width: 32, height: 32, channels: 4, background: '#ff000080' } }).png().toBuffer();
    const gif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#00ff00' } }).gif().toBuffer();
    const images: InputImage[] = [
      { data: png, mediaType: 'image/png', width: 32, height: 32 },
      { data: gif, mediaType: 'image/gif', width: 16, height: 16 },
    ];
    const gemini = model('gemini-2.5-flash-image');
    expect(gemini.operations).toContain('edit');
    const result = await gemini.edit!(callOptions({ prompt: 'make it blue', images, mask: images[0]! }));

    const parts = lastJson().contents[0].parts;
    expect(parts[0]).toEqual({ text: 'make it blue' });
    expect(parts[1].inlineData).toEqual({ mimeType: 'image/png', data: png.toString('base64') });
    expect(parts[2].inlineData.mimeType).toBe('image/png');
    expect((await sharp(Buffer.from(parts[2].inlineData.data, 'base64')).metadata()).format).toBe('png');
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'unsupported', param: 'mask' }));
    expect(result.usage?.inputImageTokens).toBeGreaterThan(0);
  });

  it('merges provider options into the body without losing the image config, and reports options Gemini lacks', async () => {
    const result = await model('gemini-2.5-flash-image').generate(
      callOptions({
        style: 'vivid',
        user: 'user-1',
        background: 'transparent',
        providerOptions: {
          safetySettings: [{ category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', threshold: 'BLOCK_ONLY_HIGH' }],
          generationConfig: { temperature: 0.4 },
        },
      }),
    );
    const body = lastJson();
    expect(body.safetySettings).toEqual([{ category: 'HARM_CATEGORY_SEXUALLY_EXPLICIT', threshold: 'BLOCK_ONLY_HIGH' }]);
    expect(body.generationConfig).toMatchObject({ temperature: 0.4, responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '1:1' } });
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['background', 'style', 'user']);
  });

  it('reports a blocked prompt as input moderation and a withheld image as output moderation', async () => {
    upstream.fake.switches.moderation = 'input';
    const input = await gatewayErrorOf(model('gemini-2.5-flash-image').generate(callOptions()));
    expect(input.code).toBe('content_policy_violation');
    expect(input.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['PROHIBITED_CONTENT'] } });

    upstream.fake.switches.moderation = 'output';
    const output = await gatewayErrorOf(model('gemini-2.5-flash-image').generate(callOptions()));
    expect(output.code).toBe('content_policy_violation');
    expect(output.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: ['IMAGE_SAFETY'] } });
  });

  it('fails clearly, without retry, when the model answers in prose instead of an image', async () => {
    upstream.fake.switches.maxImages = 0;
    const error = await gatewayErrorOf(model('gemini-2.5-flash-image').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('NO_IMAGE');
    expect(error.message).toContain('I cannot create that image');
  });

  it('reports a truncated body as an invalid upstream response', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(model('gemini-2.5-flash-image').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
    expect(error.retryable).toBe(true);
  });
});

// Issue 10 item 4: Imagen was shut down on the Gemini API on 2026-08-17; the fake answers :predict 404.
describe('Imagen on the Gemini API', () => {
  it('is refused when a channel is built for it, saying why, so no request reaches the dead endpoint', () => {
    const before = upstream.fake.requests.length;
    let error: unknown;
    try {
      model('imagen-4.0-generate-001');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('model_not_found');
    expect((error as GatewayError).message).toContain('shut Imagen down there on 2026-08-17');
    expect(upstream.fake.requests).toHaveLength(before);
  });

  it('the fake answers Imagen’s :predict with 404, as the Gemini API does since the shutdown', async () => {
    const response = await upstream.http.request(`${upstream.fake.url}/v1beta/models/imagen-4.0-generate-001:predict`, {
      method: 'POST',
      headers: { 'x-goog-api-key': googleFakeDefaultApiKey },
      json: { instances: [{ prompt: 'x' }], parameters: { sampleCount: 1 } },
    });
    expect(response.status).toBe(404);
  });
});

describe('Google failures', () => {
  it('reports a wrong key (Google’s 400 API_KEY_INVALID) and a missing key (403) as credential failures without the key', async () => {
    const wrong = await gatewayErrorOf(model('gemini-2.5-flash-image', { apiKey: 'AIzaWrongKey0123456789abcdefghij' }).generate(callOptions()));
    expect(wrong.code).toBe('upstream_auth_failed');
    expect(wrong.retryable).toBe(false);
    expect(wrong.message).not.toContain('AIzaWrongKey');

    const missing = await gatewayErrorOf(model('gemini-3-pro-image-preview', { apiKey: '' }).generate(callOptions()));
    expect(missing.code).toBe('upstream_auth_failed');
  });

  it('reports RESOURCE_EXHAUSTED as rate limiting, with the wait from RetryInfo', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 7;
    const error = await gatewayErrorOf(model('gemini-2.5-flash-image').generate(callOptions()));
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryable).toBe(true);
    expect(error.retryAfterSeconds).toBe(7);
  });

  it('reports 500 and 503 as retryable upstream errors with Google’s message', async () => {
    upstream.fake.switches.failStatus = 503;
    const error = await gatewayErrorOf(model('gemini-3-pro-image-preview').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('overloaded');
    upstream.fake.switches.failStatus = 500;
    expect((await gatewayErrorOf(model('gemini-2.5-flash-image').generate(callOptions()))).code).toBe('upstream_error');
  });

  it('gives up on a hanging upstream with upstream_timeout', async () => {
    upstream.fake.switches.hang = true;
    const error = await gatewayErrorOf(model('gemini-2.5-flash-image', { timeoutMs: 200 }).generate(callOptions()));
    expect(error.code).toBe('upstream_timeout');
  });

  it('stops at once on abort and rethrows the caller’s reason', async () => {
    upstream.fake.switches.hang = true;
    const reason = new GatewayError('upstream_timeout', 'client went away');
    const pending = model('gemini-3-pro-image-preview').generate(callOptions({ abortSignal: abortAfter(reason, 20) }));
    await expect(pending).rejects.toBe(reason);
  });
});
