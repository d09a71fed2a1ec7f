// The Ideogram adapter against the Ideogram fake through the real guarded HTTP client: the multipart
// requests Ideogram receives, how its JSON answers (expiring URLs, per-image safety) map, and how each
// failure is reported.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { ideogramFakeDefaultApiKey, startIdeogramFake } from '../../testing/fakes/ideogram.js';
import { abortAfter, downloadedMetadata, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createIdeogramProvider, ideogramResolutions, nearestResolution, toIdeogramMask } from './index.js';

const upstream = useUpstreamFake(startIdeogramFake, 'file');

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createIdeogramProvider({ channel: 'ideogram-test', baseURL: upstream.fake.url, apiKey: ideogramFakeDefaultApiKey, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'ideogram-v3', prompt: 'a poster that says HELLO', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

async function png(width: number, height: number): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: 3, background: '#336699' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

/** An OpenAI mask: left half transparent (repaint), right half opaque (keep). */
async function leftHalfMask(width: number, height: number): Promise<InputImage> {
  const pixels = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y += 1) for (let x = 0; x < width; x += 1) pixels[(y * width + x) * 4 + 3] = x < width / 2 ? 0 : 255;
  const data = await sharp(pixels, { raw: { width, height, channels: 4 } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

describe('Ideogram generate', () => {
  it('posts multipart with the Api-Key header, a listed size as resolution, n as num_images, and returns the expiring URLs', async () => {
    const v3 = model('ideogram-v3');
    expect(v3.maxImagesPerCall).toBe(8);
    const result = await v3.generate(callOptions({ n: 3, size: { width: 1280, height: 800 }, aspectRatio: '16:10', quality: 'high', seed: 42 }));

    const request = upstream.fake.requests.at(-1);
    expect(request?.path).toBe('/v1/ideogram-v3/generate');
    expect(request?.headers['api-key']).toBe(ideogramFakeDefaultApiKey);
    expect(request?.headers['authorization']).toBeUndefined();
    expect(String(request?.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
    expect(upstream.fake.submissions.at(-1)?.fields).toEqual({
      prompt: 'a poster that says HELLO',
      resolution: '1280x800',
      num_images: '3',
      seed: '42',
      rendering_speed: 'QUALITY',
    });

    expect(result.images).toHaveLength(3);
    expect(result.warnings).toEqual([]);
    const [first] = result.images;
    expect(first?.kind).toBe('url');
    // MagicPrompt rewrote the prompt; it is carried as the revised prompt.
    expect(first).toMatchObject({ revisedPrompt: 'a poster that says HELLO, rendered in crisp detail' });
    const metadata = await downloadedMetadata(upstream.http, first);
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['png', 1280, 800]);
  });

  it('sends a size Ideogram does not list as the nearest aspect ratio, with a warning', async () => {
    const result = await model('ideogram-v3').generate(callOptions({ size: { width: 1536, height: 1024 }, aspectRatio: '3:2' }));
    const fields = upstream.fake.submissions.at(-1)?.fields;
    expect(fields).toMatchObject({ aspect_ratio: '3x2' });
    expect(fields?.['resolution']).toBeUndefined();
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', param: 'size', message: expect.stringContaining('aspect_ratio 3x2') })]);
    expect((await downloadedMetadata(upstream.http, result.images[0])).width).toBe(1248);
  });

  it('maps each OpenAI quality to a rendering speed, and leaves auto to Ideogram’s default', async () => {
    const speeds: Record<string, string | undefined> = { flash: 'FLASH', low: 'TURBO', medium: 'DEFAULT', high: 'QUALITY', auto: undefined };
    for (const [quality, speed] of Object.entries(speeds)) {
      await model('ideogram-v3').generate(callOptions({ quality }));
      expect(upstream.fake.submissions.at(-1)?.fields['rendering_speed'], quality).toBe(speed);
    }
  });

  it('passes provider options as form fields (lists repeated, objects as JSON) and refuses the fields the gateway sets', async () => {
    await model('ideogram-v3').generate(
      callOptions({ providerOptions: { magic_prompt: 'OFF', negative_prompt: 'blur', style_codes: ['AAFF5733', '0133FF57'], color_palette: { name: 'PASTEL' }, style_preset: 'ART_DECO' } }),
    );
    expect(upstream.fake.submissions.at(-1)?.fields).toMatchObject({
      magic_prompt: 'OFF',
      negative_prompt: 'blur',
      style_codes: ['AAFF5733', '0133FF57'],
      color_palette: '{"name":"PASTEL"}',
      style_preset: 'ART_DECO',
      prompt: 'a poster that says HELLO',
    });
    const before = upstream.fake.requests.length;
    const refused = await gatewayErrorOf(model('ideogram-v3').generate(callOptions({ providerOptions: { rendering_speed: 'QUALITY' } })));
    expect([refused.code, refused.param]).toEqual(['invalid_value', 'rendering_speed']);
    expect(refused.message).toContain("use 'quality'");
    expect(upstream.fake.requests.length).toBe(before);
  });

  it('turns Ideogram’s 400 into invalid_value carrying its message', async () => {
    const error = await gatewayErrorOf(model('ideogram-v3').generate(callOptions({ providerOptions: { style_type: 'WATERCOLOUR' } })));
    expect([error.code, error.status]).toEqual(['invalid_value', 400]);
    expect(error.message).toContain('style_type');
  });

  it('refuses to build a model Ideogram does not have, and to generate with an edit-only model', async () => {
    expect(() => model('ideogram-v2')).toThrow(GatewayError);
    expect(model('ideogram-v3-reframe').operations).toEqual(['edit']);
    const error = await gatewayErrorOf(model('ideogram-v3-reframe').generate(callOptions()));
    expect(error.code).toBe('invalid_value');
  });
});

describe('Ideogram edits', () => {
  it('sends an edit with a mask to /edit, the OpenAI mask turned black where it was transparent', async () => {
    const image = await png(640, 480);
    const result = await model('ideogram-v3').edit!(callOptions({ prompt: 'a red door', images: [image], mask: await leftHalfMask(640, 480), size: { width: 640, height: 480 }, n: 2 }));
    const submission = upstream.fake.submissions.at(-1);
    expect(submission?.endpoint).toBe('edit');
    expect(submission?.fields).toEqual({ prompt: 'a red door', num_images: '2' });
    expect(submission?.files['image']?.[0]).toMatchObject({ type: 'image/png', width: 640, height: 480 });
    const mask = submission?.files['mask']?.[0];
    expect(mask).toMatchObject({ type: 'image/png', width: 640, height: 480 });
    // Black (edit) on the left, white (keep) on the right.
    expect(mask?.leftMean).toBeLessThan(5);
    expect(mask?.rightMean).toBeGreaterThan(250);
    expect(result.images).toHaveLength(2);
    expect(result.warnings).toEqual([]);
    const metadata = await downloadedMetadata(upstream.http, result.images[0]);
    expect([metadata.width, metadata.height]).toEqual([640, 480]);
  });

  it('scales a mask of another size to the image, as Ideogram needs “the same size as the image”', async () => {
    const mask = await toIdeogramMask(await leftHalfMask(64, 32), { width: 128, height: 64 });
    const metadata = await sharp(mask).metadata();
    expect([metadata.width, metadata.height, metadata.channels]).toEqual([128, 64, 1]);
  });

  it('sends an edit without a mask to /remix, with the size as resolution or aspect ratio', async () => {
    const image = await png(800, 600);
    const result = await model('ideogram-v3').edit!(callOptions({ images: [image, await png(64, 64)], size: { width: 1024, height: 768 }, providerOptions: { image_weight: 70 } }));
    const submission = upstream.fake.submissions.at(-1);
    expect(submission?.endpoint).toBe('remix');
    expect(submission?.fields).toMatchObject({ prompt: 'a poster that says HELLO', aspect_ratio: '4x3', image_weight: '70' });
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['image', 'size']);
  });

  it('reframes to the nearest listed resolution without a prompt', async () => {
    const result = await model('ideogram-v3-reframe').edit!(callOptions({ images: [await png(512, 512)], size: { width: 1920, height: 1080 } }));
    const submission = upstream.fake.submissions.at(-1);
    expect(submission?.endpoint).toBe('reframe');
    expect(submission?.fields).toEqual({ resolution: '1312x736', num_images: '1' });
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['prompt', 'size']);
    expect((await downloadedMetadata(upstream.http, result.images[0])).width).toBe(1312);
  });

  it('replaces the background with the prompt and no size fields, saying the input size is kept', async () => {
    const result = await model('ideogram-v3-replace-background').edit!(callOptions({ prompt: 'a beach at noon', images: [await png(600, 400)], size: { width: 1024, height: 1024 } }));
    const submission = upstream.fake.submissions.at(-1);
    expect(submission?.endpoint).toBe('replace-background');
    expect(submission?.fields).toEqual({ prompt: 'a beach at noon', num_images: '1' });
    expect(result.warnings).toEqual([expect.objectContaining({ param: 'size', message: expect.stringContaining('600x400') })]);
  });

  it('picks the listed resolution nearest in shape, then in pixels', () => {
    expect(nearestResolution({ width: 1024, height: 1024 })).toBe('1024x1024');
    expect(nearestResolution({ width: 4000, height: 1000 })).toBe('1536x512');
    expect(nearestResolution({ width: 768, height: 1024 })).toBe('864x1152');
    expect(ideogramResolutions).toHaveLength(69);
  });
});

describe('Ideogram moderation and failures', () => {
  it('reports a 422 safety failure as input moderation', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(model('ideogram-v3').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'input' } });
  });

  it('reports every image failing is_image_safe as output moderation, and drops only the unsafe ones otherwise', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(model('ideogram-v3').generate(callOptions({ n: 2 })));
    expect(error.details).toMatchObject({ moderation_details: { moderation_stage: 'output' } });

    delete upstream.fake.switches.moderation;
    upstream.fake.switches.unsafeImages = 1;
    const result = await model('ideogram-v3').generate(callOptions({ n: 3 }));
    expect(result.images).toHaveLength(2);
    expect(result.warnings).toEqual([expect.objectContaining({ message: 'Ideogram withheld 1 of 3 images that failed its safety check.' })]);
  });

  it('reports a rejected key as a credential failure without quoting the key', async () => {
    const error = await gatewayErrorOf(model('ideogram-v3', { apiKey: 'ideo-wrong-key-1234567890' }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_auth_failed', false]);
    expect(error.message).not.toContain('ideo-wrong-key');
  });

  it('maps out of credit, 429 with retry-after and 500 onto the taxonomy', async () => {
    const v3 = model('ideogram-v3');
    upstream.fake.switches.outOfFunds = true;
    const funds = await gatewayErrorOf(v3.generate(callOptions()));
    expect([funds.code, funds.retryable]).toEqual(['upstream_out_of_funds', true]);
    delete upstream.fake.switches.outOfFunds;

    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 30;
    const limited = await gatewayErrorOf(v3.generate(callOptions()));
    expect([limited.code, limited.retryable, limited.retryAfterSeconds]).toEqual(['upstream_rate_limited', true, 30]);

    upstream.fake.switches.failStatus = 500;
    const failed = await gatewayErrorOf(v3.generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
  });

  it('reports a cut-off JSON answer as an invalid upstream response', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(model('ideogram-v3').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
  });

  it('gives up on a hanging upstream with upstream_timeout, and stops at once on abort with the caller’s reason', async () => {
    upstream.fake.switches.hang = true;
    const timedOut = await gatewayErrorOf(model('ideogram-v3', { timeoutMs: 200 }).generate(callOptions()));
    expect(timedOut.code).toBe('upstream_timeout');
    const reason = new GatewayError('upstream_timeout', 'client went away');
    await expect(model('ideogram-v3').generate(callOptions({ abortSignal: abortAfter(reason, 20) }))).rejects.toBe(reason);
  });
});
