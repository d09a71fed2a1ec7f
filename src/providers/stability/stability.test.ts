// The Stability adapter against the Stability fake through the real guarded HTTP client: the multipart
// request Stability receives, how its raw-bytes answers map, and how every failure is reported.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { stabilityFakeDefaultApiKey, startStabilityFake } from '../../testing/fakes/stability.js';
import { abortAfter, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createStabilityProvider, toStabilityMask } from './index.js';

const upstream = useUpstreamFake(startStabilityFake, 'file');

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createStabilityProvider({ channel: 'stability-test', baseURL: upstream.fake.url, apiKey: stabilityFakeDefaultApiKey, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'stable-image-core', prompt: 'a lighthouse at dusk', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

function onlyBytes(result: Awaited<ReturnType<ImageModel['generate']>>): { data: Buffer; mediaType?: string } {
  const image = result.images[0];
  if (result.images.length !== 1 || image?.kind !== 'bytes') throw new Error('expected exactly one image as bytes');
  return image;
}

describe('Stability generate', () => {
  it('posts multipart fields with the bearer key and Accept image/*, and returns the raw image', async () => {
    const core = model('stable-image-core');
    expect(core.maxImagesPerCall).toBe(1);
    const result = await core.generate(callOptions({ size: { width: 1344, height: 768 }, aspectRatio: '16:9', outputFormat: 'webp', seed: 1234, user: 'end-user-7' }));

    const sent = upstream.fake.requests.at(-1);
    expect(sent?.path).toBe('/v2beta/stable-image/generate/core');
    expect(sent?.headers['authorization']).toBe(`Bearer ${stabilityFakeDefaultApiKey}`);
    expect(sent?.headers['accept']).toBe('image/*');
    expect(sent?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(sent?.headers['stability-client-user-id']).toBe('end-user-7');
    expect(upstream.fake.submissions.at(-1)?.fields).toEqual({ prompt: 'a lighthouse at dusk', output_format: 'webp', seed: '1234', aspect_ratio: '16:9' });

    const image = onlyBytes(result);
    expect(image.mediaType).toBe('image/webp');
    const metadata = await sharp(image.data).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['webp', 1344, 768]);
    expect(result.upstreamRequestId).toEqual(expect.any(String));
    expect(result.warnings).toEqual([]);
  });

  it('sends SD3 models to the sd3 endpoint with their name, PNG in place of WebP, and the nearest aspect ratio with a warning', async () => {
    const result = await model('sd3.5-large-turbo').generate(callOptions({ size: { width: 1024, height: 768 }, aspectRatio: '4:3', outputFormat: 'webp' }));
    expect(upstream.fake.requests.at(-1)?.path).toBe('/v2beta/stable-image/generate/sd3');
    expect(upstream.fake.submissions.at(-1)?.fields).toMatchObject({ model: 'sd3.5-large-turbo', output_format: 'png', aspect_ratio: '5:4' });
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));
    expect(onlyBytes(result).mediaType).toBe('image/png');
  });

  it('passes provider options as form fields and reports options Stability lacks', async () => {
    const result = await model('stable-image-ultra').generate(
      callOptions({ quality: 'hd', background: 'transparent', providerOptions: { negative_prompt: 'fog', style_preset: 'cinematic' } }),
    );
    expect(upstream.fake.requests.at(-1)?.path).toBe('/v2beta/stable-image/generate/ultra');
    expect(upstream.fake.submissions.at(-1)?.fields).toMatchObject({ negative_prompt: 'fog', style_preset: 'cinematic' });
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['background', 'quality']);
  });

  it('turns Stability’s 400 bad_request into invalid_value carrying its message', async () => {
    const error = await gatewayErrorOf(model('stable-image-core').generate(callOptions({ providerOptions: { style_preset: 'watercolour' } })));
    expect(error.code).toBe('invalid_value');
    expect(error.status).toBe(400);
    expect(error.message).toContain('style_preset');
  });

  it('refuses to build a model Stability does not have', () => {
    expect(() => model('stable-diffusion-xl-1024-v1-0')).toThrow(GatewayError);
  });
});

describe('Stability edit (inpaint)', () => {
  it('sends the image and an inverted-alpha mask to inpaint and returns an image of the input size', async () => {
    const source = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#204060' } }).png().toBuffer();
    // Left half transparent (repaint), right half opaque (keep), the OpenAI way.
    const maskImage = await sharp({ create: { width: 640, height: 480, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 1 } } })
      .composite([{ input: await sharp({ create: { width: 320, height: 480, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer(), left: 0, top: 0, blend: 'dest-out' }])
      .png()
      .toBuffer();
    const image: InputImage = { data: source, mediaType: 'image/png', width: 640, height: 480 };
    const mask: InputImage = { data: maskImage, mediaType: 'image/png', width: 640, height: 480 };

    const result = await model('stable-image-core').edit!(callOptions({ prompt: 'add a boat', images: [image], mask, size: { width: 1024, height: 1024 } }));
    expect(upstream.fake.requests.at(-1)?.path).toBe('/v2beta/stable-image/edit/inpaint');
    const submission = upstream.fake.submissions.at(-1);
    expect(submission?.fields).toEqual({ prompt: 'add a boat', output_format: 'png' });
    expect(submission?.files['image']).toMatchObject({ type: 'image/png', width: 640, height: 480 });
    expect(submission?.files['mask']).toMatchObject({ type: 'image/png', width: 640, height: 480 });

    const output = await sharp(onlyBytes(result).data).metadata();
    expect([output.width, output.height]).toEqual([640, 480]);
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));
  });

  it('makes the repaint area of an OpenAI mask white and the kept area black, as a greyscale image', async () => {
    const openAIMask = await sharp(Buffer.from([0, 0, 0, 0, 0, 0, 0, 255]), { raw: { width: 2, height: 1, channels: 4 } }).png().toBuffer();
    const converted = await toStabilityMask({ data: openAIMask, mediaType: 'image/png', width: 2, height: 1 });
    expect((await sharp(converted).metadata()).channels).toBe(1);
    const pixels = await sharp(converted).toColourspace('b-w').raw().toBuffer();
    expect([...pixels]).toEqual([255, 0]);
  });

  it('leaves the mask out when none is given, so Stability uses the image’s own transparency', async () => {
    const source = await sharp({ create: { width: 256, height: 256, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } }).png().toBuffer();
    await model('sd3.5-large').edit!(callOptions({ images: [{ data: source, mediaType: 'image/png', width: 256, height: 256 }], size: { width: 256, height: 256 } }));
    expect(Object.keys(upstream.fake.submissions.at(-1)?.files ?? {})).toEqual(['image']);
  });
});

describe('Stability moderation and failures', () => {
  it('reports 403 content_moderation as input moderation', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(model('stable-image-core').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'input' } });
  });

  it('reports a CONTENT_FILTERED result as output moderation and never returns the blurred image', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(model('stable-image-ultra').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: ['CONTENT_FILTERED'] } });
  });

  it('reports a rejected key as a credential failure without quoting the key', async () => {
    const error = await gatewayErrorOf(model('stable-image-core', { apiKey: 'sk-wrong-key-1234567890abcdef' }).generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.retryable).toBe(false);
    expect(error.message).not.toContain('sk-wrong-key');
  });

  it('maps 402, 413, 429 (with retry-after) and 500 onto the taxonomy', async () => {
    const core = model('stable-image-core');
    upstream.fake.switches.failStatus = 402;
    const payment = await gatewayErrorOf(core.generate(callOptions()));
    expect([payment.code, payment.retryable]).toEqual(['upstream_out_of_funds', true]);
    expect(payment.message).toContain('out of credit');

    upstream.fake.switches.failStatus = 413;
    const tooLarge = await gatewayErrorOf(core.generate(callOptions()));
    expect([tooLarge.code, tooLarge.retryable]).toEqual(['upstream_error', false]);

    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 60;
    const limited = await gatewayErrorOf(core.generate(callOptions()));
    expect([limited.code, limited.retryable, limited.retryAfterSeconds]).toEqual(['upstream_rate_limited', true, 60]);

    upstream.fake.switches.failStatus = 500;
    const failed = await gatewayErrorOf(core.generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
  });

  it('reports a cut-off image as an invalid upstream response', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(model('stable-image-core').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
  });

  it('gives up on a hanging upstream with upstream_timeout', async () => {
    upstream.fake.switches.hang = true;
    const error = await gatewayErrorOf(model('stable-image-core', { timeoutMs: 200 }).generate(callOptions()));
    expect(error.code).toBe('upstream_timeout');
  });

  it('stops at once on abort and rethrows the caller’s reason', async () => {
    upstream.fake.switches.hang = true;
    const reason = new GatewayError('upstream_timeout', 'client went away');
    const pending = model('stable-image-core').generate(callOptions({ abortSignal: abortAfter(reason, 20) }));
    await expect(pending).rejects.toBe(reason);
  });
});
