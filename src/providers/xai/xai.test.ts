// The xAI adapter against the xAI fake through the real guarded HTTP client: the JSON bodies xAI
// receives (never size/style/quality), edits as data URLs, revised prompts, and each error class.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { startXaiFake } from '../../testing/fakes/xai.js';
import { bytesOf, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createXaiProvider } from './index.js';

const upstream = useUpstreamFake(startXaiFake, 'file');

function model(name = 'grok-imagine-image', settings: Partial<ProviderSettings> = {}): ImageModel {
  return createXaiProvider({ channel: 'xai-test', baseURL: `${upstream.fake.url}/v1`, apiKey: upstream.fake.apiKey, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'grok-imagine-image', prompt: 'a lighthouse at dusk', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', outputFormat: 'jpeg', ...overrides });
}

async function pngInput(width: number, height: number): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: 3, background: '#3366aa' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

describe('xAI generations', () => {
  it('sends model, prompt, n and aspect_ratio — never size, style or seed — and keeps the revised prompt', async () => {
    const result = await model().generate(callOptions({ n: 2, size: { width: 1344, height: 768 }, aspectRatio: '16:9', style: 'vivid', seed: 3, user: 'u-1' }));
    const call = upstream.fake.calls.at(-1);
    expect(call?.body).toEqual({ model: 'grok-imagine-image', prompt: 'a lighthouse at dusk', n: 2, response_format: 'b64_json', aspect_ratio: '16:9', user: 'u-1' });
    expect(result.images).toHaveLength(2);
    expect(result.images[0]).toMatchObject({ kind: 'bytes', revisedPrompt: 'A detailed image of a lighthouse at dusk' });
    const meta = await sharp(bytesOf(result.images[0])).metadata();
    expect(meta.format).toBe('jpeg');
    expect(result.warnings.map((warning) => [warning.type, warning.param])).toEqual([['unsupported', 'style'], ['unsupported', 'seed']]);
  });

  it('sends quality only to grok-imagine-image-2.0, passes resolution, and warns about other extra fields', async () => {
    const plain = await model().generate(callOptions({ quality: 'high', providerOptions: { resolution: '2k', guidance: 3 } }));
    expect(upstream.fake.calls.at(-1)?.body).toMatchObject({ resolution: '2k' });
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('quality');
    expect(plain.warnings.map((warning) => warning.param)).toEqual(['quality', 'guidance']);
    await model('grok-imagine-image-2.0').generate(callOptions({ model: 'grok-imagine-image-2.0', quality: 'low' }));
    expect(upstream.fake.calls.at(-1)?.body).toMatchObject({ quality: 'low' });
    const bad = await gatewayErrorOf(model().generate(callOptions({ providerOptions: { resolution: '4k' } })));
    expect([bad.code, bad.param]).toEqual(['invalid_value', 'resolution']);
  });

  it('says so when the ratio is not one of xAI’s, and lets xAI choose', async () => {
    const result = await model().generate(callOptions({ aspectRatio: '5:4', size: { width: 1152, height: 928 } }));
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('aspect_ratio');
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'aspect_ratio' })]);
  });
});

describe('xAI edits', () => {
  it('sends one input as `image` and several as `images`, as data URLs in JSON', async () => {
    const photo = await pngInput(768, 512);
    await model().edit?.(callOptions({ images: [photo] }));
    expect(upstream.fake.calls.at(-1)?.body['image']).toEqual({ url: `data:image/png;base64,${photo.data.toString('base64')}` });
    await model().edit?.(callOptions({ images: [photo, await pngInput(512, 512)] }));
    expect(upstream.fake.calls.at(-1)?.inputs).toEqual([{ width: 768, height: 512, format: 'png' }, { width: 512, height: 512, format: 'png' }]);
  });

  it('refuses a mask before calling xAI', async () => {
    const calls = upstream.fake.calls.length;
    const error = await gatewayErrorOf(model().edit?.(callOptions({ images: [await pngInput(512, 512)], mask: await pngInput(512, 512) })) ?? Promise.resolve());
    expect([error.code, error.param]).toEqual(['invalid_value', 'mask']);
    expect(upstream.fake.calls.length).toBe(calls);
  });
});

describe('xAI failures', () => {
  it('maps the 400 for an incorrect key to upstream_auth_failed, without the key', async () => {
    const error = await gatewayErrorOf(model('grok-imagine-image', { apiKey: 'xai-not-the-key' }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_auth_failed', false]);
    expect(error.message).not.toContain('xai-');
  });

  it('maps the 403 about credits to out of funds, 429 to rate limited with retry-after, moderation to content_policy_violation', async () => {
    upstream.fake.switches.outOfFunds = true;
    expect((await gatewayErrorOf(model().generate(callOptions()))).code).toBe('upstream_out_of_funds');
    delete upstream.fake.switches.outOfFunds;
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 6;
    const limited = await gatewayErrorOf(model().generate(callOptions()));
    expect([limited.code, limited.retryAfterSeconds]).toEqual(['upstream_rate_limited', 6]);
    delete upstream.fake.switches.failStatus;
    upstream.fake.switches.moderation = 'output';
    const flagged = await gatewayErrorOf(model().generate(callOptions()));
    expect([flagged.code, (flagged.details as { moderation_details: { moderation_stage: string } }).moderation_details.moderation_stage]).toEqual(['content_policy_violation', 'output']);
  });

  it('maps a truncated answer to an invalid upstream response and a 503 to a retryable error', async () => {
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(model().generate(callOptions()))).code).toBe('upstream_invalid_response');
    delete upstream.fake.switches.malformed;
    upstream.fake.switches.failStatus = 503;
    const failed = await gatewayErrorOf(model().generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
  });
});
