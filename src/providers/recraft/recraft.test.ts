// The Recraft adapter against the Recraft fake through the real guarded HTTP client: the bodies
// Recraft receives for generations and both kinds of edit, SVG and raster results, and every failure.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { startRecraftFake } from '../../testing/fakes/recraft.js';
import { bytesOf, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createRecraftProvider } from './index.js';

const upstream = useUpstreamFake(startRecraftFake, 'file');

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createRecraftProvider({ channel: 'recraft-test', baseURL: `${upstream.fake.url}/v1`, apiKey: upstream.fake.token, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'recraftv3', prompt: 'a red fox in snow', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

async function pngInput(width: number, height: number, alpha = false): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: alpha ? 4 : 3, background: alpha ? { r: 0, g: 0, b: 0, alpha: 0 } : '#3366aa' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

describe('Recraft generations', () => {
  it('sends model, prompt, n, size, style, seed and the raster format, and returns the images as bytes', async () => {
    const result = await model('recraftv3').generate(callOptions({ n: 2, size: { width: 1365, height: 1024 }, aspectRatio: '4:3', style: 'digital_illustration', seed: 7, outputFormat: 'webp' }));
    const call = upstream.fake.calls.at(-1);
    expect(call?.operation).toBe('generations');
    expect(call?.body).toEqual({ model: 'recraftv3', prompt: 'a red fox in snow', n: 2, size: '1365x1024', response_format: 'b64_json', style: 'digital_illustration', image_format: 'webp', random_seed: 7 });
    expect(result.images).toHaveLength(2);
    const meta = await sharp(bytesOf(result.images[0])).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 1365, 1024]);
    expect(result.warnings).toEqual([]);
  });

  it('asks a vector model for no raster format and hands back its SVG document', async () => {
    const result = await model('recraftv4_1_vector').generate(callOptions({ model: 'recraftv4_1_vector', size: { width: 1344, height: 768 }, aspectRatio: '16:9', outputFormat: 'svg' }));
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('image_format');
    expect(bytesOf(result.images[0]).toString('utf8')).toMatch(/^<svg [^>]*width="1344" height="768"/);
  });

  it('passes Recraft’s own fields through (substyle, controls, negative_prompt, text_layout) and drops others with a warning', async () => {
    const controls = { colors: [{ rgb: [255, 142, 60] }], background_color: { rgb: [250, 250, 250] }, no_text: true };
    const textLayout = [{ text: 'SALE', bbox: [[0.1, 0.1], [0.9, 0.1], [0.9, 0.3], [0.1, 0.3]] }];
    const result = await model('recraftv3').generate(
      callOptions({ style: 'realistic_image', quality: 'hd', providerOptions: { substyle: 'hdr', controls, negative_prompt: 'blurry', text_layout: textLayout, guidance: 4 } }),
    );
    expect(upstream.fake.calls.at(-1)?.body).toMatchObject({ style: 'realistic_image', substyle: 'hdr', controls, negative_prompt: 'blurry', text_layout: textLayout });
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('guidance');
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('quality');
    expect(result.warnings.map((warning) => [warning.type, warning.param])).toEqual([['unsupported', 'quality'], ['unsupported', 'guidance']]);
  });

  it('refuses what Recraft would refuse before calling: a substyle of another style, a bad colour, style with style_id', async () => {
    const calls = upstream.fake.calls.length;
    const substyle = await gatewayErrorOf(model('recraftv3').generate(callOptions({ style: 'realistic_image', providerOptions: { substyle: 'pixel_art' } })));
    expect([substyle.code, substyle.param]).toEqual(['invalid_value', 'substyle']);
    expect(substyle.message).toContain("'b_and_w'");
    const colour = await gatewayErrorOf(model('recraftv3').generate(callOptions({ providerOptions: { controls: { colors: [{ rgb: [300, 0, 0] }] } } })));
    expect([colour.code, colour.param]).toEqual(['invalid_value', 'controls']);
    const both = await gatewayErrorOf(model('recraftv3').generate(callOptions({ style: 'any', providerOptions: { style_id: '0a1b2c3d-1234-4abc-9def-111111111111' } })));
    expect(both.param).toBe('style_id');
    expect(upstream.fake.calls.length).toBe(calls);
  });

  it('leaves style and negative_prompt out for V4 models, with warnings', async () => {
    const result = await model('recraftv4_1').generate(callOptions({ model: 'recraftv4_1', style: 'digital_illustration', providerOptions: { negative_prompt: 'text' } }));
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('style');
    expect(upstream.fake.calls.at(-1)?.body).not.toHaveProperty('negative_prompt');
    expect(result.warnings.map((warning) => warning.param)).toEqual(['style', 'negative_prompt']);
  });
});

describe('Recraft edits', () => {
  it('sends an edit without a mask to imageToImage with the image as a data URL and the default strength', async () => {
    const photo = await pngInput(640, 480);
    const result = await model('recraftv3').edit?.(callOptions({ images: [photo] }));
    const call = upstream.fake.calls.at(-1);
    expect(call?.operation).toBe('imageToImage');
    expect(call?.body).toMatchObject({ strength: 0.5, image_url: `data:image/png;base64,${photo.data.toString('base64')}` });
    expect(call?.body).not.toHaveProperty('size');
    const meta = await sharp(bytesOf(result?.images[0])).metadata();
    expect([meta.width, meta.height]).toEqual([640, 480]);
    await model('recraftv3').edit?.(callOptions({ images: [photo], providerOptions: { strength: 0.2 } }));
    expect(upstream.fake.calls.at(-1)?.body['strength']).toBe(0.2);
  });

  it('inpaints with a mask turned into Recraft’s white-means-repaint greyscale', async () => {
    const photo = await pngInput(512, 512);
    const mask = await pngInput(512, 512, true);
    await model('recraftv3').edit?.(callOptions({ images: [photo], mask }));
    const call = upstream.fake.calls.at(-1);
    expect(call?.operation).toBe('inpaint');
    expect(call?.mask).toEqual({ width: 512, height: 512, channels: 1 });
    const sent = Buffer.from(String(call?.body['mask_url']).split(',')[1] ?? '', 'base64');
    const { data } = await sharp(sent).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBe(255);
  });

  it('refuses a mask for a model that does not inpaint, without calling Recraft', async () => {
    const calls = upstream.fake.calls.length;
    const photo = await pngInput(512, 512);
    const error = await gatewayErrorOf(model('recraftv4_1').edit?.(callOptions({ model: 'recraftv4_1', images: [photo], mask: await pngInput(512, 512, true) })) ?? Promise.resolve());
    expect([error.code, error.param]).toEqual(['invalid_value', 'mask']);
    expect(upstream.fake.calls.length).toBe(calls);
  });
});

describe('Recraft failures', () => {
  it('maps a bad token to upstream_auth_failed without the upstream’s words', async () => {
    const error = await gatewayErrorOf(model('recraftv3', { apiKey: 'wrong-token' }).generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.message).not.toContain('wrong-token');
  });

  it('maps 402 to out of funds (failover), 429 to rate limited with its retry-after, 500 to a retryable upstream error', async () => {
    upstream.fake.switches.outOfFunds = true;
    const broke = await gatewayErrorOf(model('recraftv3').generate(callOptions()));
    expect([broke.code, broke.retryable]).toEqual(['upstream_out_of_funds', true]);
    delete upstream.fake.switches.outOfFunds;
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 9;
    const limited = await gatewayErrorOf(model('recraftv3').generate(callOptions()));
    expect([limited.code, limited.retryAfterSeconds]).toEqual(['upstream_rate_limited', 9]);
    upstream.fake.switches.failStatus = 500;
    const failed = await gatewayErrorOf(model('recraftv3').generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
  });

  it('maps NSFW refusals to the moderation error, staged input or output', async () => {
    upstream.fake.switches.moderation = 'input';
    const input = await gatewayErrorOf(model('recraftv3').generate(callOptions()));
    expect([input.code, (input.details as { moderation_details: { moderation_stage: string } }).moderation_details.moderation_stage]).toEqual(['content_policy_violation', 'input']);
    upstream.fake.switches.moderation = 'output';
    const output = await gatewayErrorOf(model('recraftv3').generate(callOptions()));
    expect((output.details as { moderation_details: { moderation_stage: string } }).moderation_details.moderation_stage).toBe('output');
  });

  it('maps a validation refusal to invalid_value with Recraft’s message, and a truncated body to an invalid upstream response', async () => {
    const refused = await gatewayErrorOf(model('recraftv4_1').generate(callOptions({ model: 'recraftv4_1', size: { width: 1365, height: 1024 } })));
    expect(refused.code).toBe('invalid_value');
    expect(refused.message).toContain('size 1365x1024 is not supported by recraftv4_1');
    upstream.fake.switches.malformed = true;
    const malformed = await gatewayErrorOf(model('recraftv3').generate(callOptions()));
    expect(malformed.code).toBe('upstream_invalid_response');
  });
});
