// Stability AI end to end: OpenAI-format requests through the gateway over HTTP to the Stability
// v2beta fake (multipart in, raw image bytes out, one image per call, inpaint for edits).

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { stabilityFakeDefaultApiKey, startStabilityFake, type StabilityFake } from '../../src/testing/fakes/stability.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';

const wrongKey = 'sk-wrong-stability-key-do-not-echo-55e1';

function stabilityChannel(fake: StabilityFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'stability',
    provider: 'stability',
    base_url: fake.url,
    api_key: stabilityFakeDefaultApiKey,
    models: ['stable-image-ultra', 'stable-image-core', 'sd3.5-large'],
    ...overrides,
  };
}

const rig = useProviderRig(startStabilityFake, (fake) => [stabilityChannel(fake)]);

describe('Stability through the gateway', () => {
  it('generates with stable-image-core as multipart at the asked ratio, bytes back as base64', async () => {
    const answer = await generate(rig.gateway, { model: 'stable-image-core', prompt: 'a lighthouse at dusk', aspect_ratio: '16:9' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('stability');
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['png', 1344, 768]);
    const sent = rig.fake.submissions.at(-1);
    expect(sent?.path).toBe('/v2beta/stable-image/generate/core');
    expect(sent?.accept).toBe('image/*');
    expect(sent?.fields).toMatchObject({ prompt: 'a lighthouse at dusk', aspect_ratio: '16:9', output_format: 'png' });
    const request = [...rig.fake.requests].reverse().find((candidate) => candidate.path === '/v2beta/stable-image/generate/core');
    expect(request?.headers['authorization']).toBe(`Bearer ${stabilityFakeDefaultApiKey}`);
    expect(String(request?.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('sends SD 3.5 to the sd3 endpoint with its model name, asking png for webp and converting', async () => {
    const answer = await generate(rig.gateway, { model: 'sd3.5-large', prompt: 'a glass city', output_format: 'webp', response_format: 'url' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect(image?.format).toBe('webp');
    expect(rig.fake.submissions.at(-1)).toMatchObject({ path: '/v2beta/stable-image/generate/sd3', fields: { model: 'sd3.5-large', output_format: 'png', aspect_ratio: '1:1' } });
  });

  it('fans n: 3 out into three calls (Stability makes one image per call)', async () => {
    const before = rig.fake.submissions.length;
    const answer = await generate(rig.gateway, { model: 'stable-image-ultra', prompt: 'three kites', n: 3, aspect_ratio: '9:21' });
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(3);
    expect(images.every((image) => image.width === 640 && image.height === 1536)).toBe(true);
    expect(rig.fake.submissions.length - before).toBe(3);
  });

  it('edits through inpaint with the mask turned into a Stability mask, keeping the input size', async () => {
    const source = await inputImage(512, 384);
    // OpenAI marks the area to repaint with transparency.
    const mask = await sharp({ create: { width: 512, height: 384, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const answer = await edit(rig.gateway, { model: 'stable-image-core', prompt: 'a red door' }, [source], mask);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([512, 384]);
    const sent = rig.fake.submissions.at(-1);
    expect(sent?.path).toBe('/v2beta/stable-image/edit/inpaint');
    expect(sent?.files['image']).toMatchObject({ width: 512, height: 384 });
    expect(sent?.files['mask']).toMatchObject({ type: 'image/png', width: 512, height: 384 });
    expect(answer.headers.get('x-imagegate-warnings')).toContain("Stability inpaint returns the input image's size");
  });

  it('maps 403 content_moderation to content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'stable-image-core', prompt: 'flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it('never hands out a blurred CONTENT_FILTERED image: content_policy_violation about the output', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'stable-image-core', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toEqual({ moderation_stage: 'output', categories: ['CONTENT_FILTERED'] });
    expect(answer.body.data).toBeUndefined();
  });

  it("passes Stability's 429 on with its retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 60;
    const answer = await generate(rig.gateway, { model: 'stable-image-core', prompt: 'too many' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('60');
  });

  it('answers 502 for a body that is not an image', async () => {
    rig.fake.switches.malformed = true;
    const answer = await generate(rig.gateway, { model: 'stable-image-core', prompt: 'cut off' });
    expect(answer.status).toBe(502);
  });
});

describe('Stability with a key it rejects', () => {
  it('answers 502 upstream_auth_failed without the key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [stabilityChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'stable-image-core', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
    } finally {
      await rejected.close();
    }
  });
});
