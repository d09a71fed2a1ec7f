// Google end to end: OpenAI-format requests through the gateway over HTTP to the Gemini API fake
// (Gemini `:generateContent` image models; Imagen, shut down there, served by its Gemini successor).

import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { googleFakeDefaultApiKey, startGoogleFake, type GoogleFake } from '../../src/testing/fakes/google.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { decode, edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';

const wrongKey = 'AIzaWrongKeyDoNotEcho0123456789abcdefg';

function googleChannel(fake: GoogleFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'google',
    provider: 'google',
    base_url: `${fake.url}/v1beta`,
    api_key: googleFakeDefaultApiKey,
    // gemini-2.5-flash-image's wire rules stay tested as an upstream that still serves it (Google
    // shut it down on 2026-10-02; the channel says its upstream still has it).
    models: ['gemini-2.5-flash-image', 'gemini-3-pro-image'],
    options: { serves_retired_models: true },
    ...overrides,
  };
}

/** The Gemini API as it is today: Imagen and the Gemini 3 Pro Image preview are served by the catalog's successor. */
function todaysGoogleChannel(fake: GoogleFake): ChannelConfig {
  return {
    name: 'google-today',
    provider: 'google',
    base_url: `${fake.url}/v1beta`,
    api_key: googleFakeDefaultApiKey,
    models: ['imagen-4.0-generate-001', 'imagen-4.0-fast-generate-001', 'gemini-3-pro-image-preview'],
  };
}

const rig = useProviderRig(startGoogleFake, (fake) => [googleChannel(fake), todaysGoogleChannel(fake)]);

const lastGenerateContent = () => [...rig.fake.requests].reverse().find((request) => request.path.endsWith(':generateContent'));
const lastBody = (method: 'generateContent' | 'predict') =>
  [...rig.fake.requests].reverse().find((request) => request.path.endsWith(`:${method}`))?.json as Record<string, any> | undefined;

describe('Gemini image models through the gateway', () => {
  it('generates with gemini-2.5-flash-image at the asked ratio, as base64, with the key in its header', async () => {
    const answer = await generate(rig.gateway, { model: 'gemini-2.5-flash-image', prompt: 'a watercolor fox', aspect_ratio: '16:9' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('google');
    const [image] = await imagesOf(rig.gateway, answer);
    // Gemini 2.5's own 16:9 size: the catalog's ~1 MP 16:9 is its 1K tier, so nothing was substituted.
    expect([image?.format, image?.width, image?.height]).toEqual(['png', 1344, 768]);
    expect(answer.headers.get('x-imagegate-warnings')).toBeNull();
    const request = [...rig.fake.requests].reverse().find((candidate) => candidate.path.endsWith(':generateContent'));
    expect(request?.path).toBe('/v1beta/models/gemini-2.5-flash-image:generateContent');
    expect(request?.headers['x-goog-api-key']).toBe(googleFakeDefaultApiKey);
    expect(lastBody('generateContent')?.['generationConfig']).toEqual({ responseModalities: ['TEXT', 'IMAGE'], imageConfig: { aspectRatio: '16:9' } });
  });

  it('answers to the nano-banana alias and fans n: 3 out into three calls', async () => {
    const before = rig.fake.counters.generateContent;
    const answer = await generate(rig.gateway, { model: 'nano-banana', prompt: 'three pears', n: 3 });
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(3);
    expect(rig.fake.counters.generateContent - before).toBe(3);
  });

  it('picks the 2K tier of gemini-3-pro-image for a 2048x2048 size', async () => {
    const answer = await generate(rig.gateway, { model: 'gemini-3-pro-image', prompt: 'a detailed map', size: '2048x2048', output_format: 'jpeg' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['jpeg', 2048, 2048]);
    expect(lastGenerateContent()?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(lastBody('generateContent')?.['generationConfig']?.['imageConfig']).toEqual({ aspectRatio: '1:1', imageSize: '2K' });
    expect(answer.headers.get('x-imagegate-warnings')).toBeNull();
  });

  // Google shut the preview down on 2026-06-25 ("gemini-3-pro-image-preview | November 20, 2025 | June 25, 2026 |
  // gemini-3-pro-image", https://ai.google.dev/gemini-api/docs/deprecations): its name, and the nano-banana-pro
  // alias, keep working and are served by the GA model, at the asked tier.
  it.each(['gemini-3-pro-image-preview', 'nano-banana-pro'])('serves %s from gemini-3-pro-image, and says so', async (name) => {
    const answer = await generate(rig.gateway, { model: name, prompt: 'a tall lighthouse', size: '1536x2752' });
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([1536, 2752]);
    expect(lastGenerateContent()?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(lastBody('generateContent')?.['generationConfig']?.['imageConfig']).toEqual({ aspectRatio: '9:16', imageSize: '2K' });
    expect(answer.headers.get('x-imagegate-warnings')).toContain('gemini-3-pro-image-preview was shut down by google on 2026-06-25; served by its successor gemini-3-pro-image');
  });

  it('edits by sending the input image inline', async () => {
    const source = await inputImage(300, 200);
    const answer = await edit(rig.gateway, { model: 'gemini-2.5-flash-image', prompt: 'add snow', aspect_ratio: '3:2' }, [source]);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([1248, 832]);
    const parts = lastBody('generateContent')?.['contents'][0]['parts'] as Array<Record<string, any>>;
    expect(parts[0]).toEqual({ text: 'add snow' });
    expect(parts[1]?.['inlineData']?.['mimeType']).toBe('image/png');
    expect((await decode(Buffer.from(parts[1]?.['inlineData']?.['data'] as string, 'base64'))).width).toBe(300);
  });

  it('maps a blocked prompt (promptFeedback.blockReason) to content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'gemini-2.5-flash-image', prompt: 'flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toEqual({ moderation_stage: 'input', categories: ['PROHIBITED_CONTENT'] });
  });

  it('maps finishReason IMAGE_SAFETY to content_policy_violation about the output', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'gemini-2.5-flash-image', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toEqual({ moderation_stage: 'output', categories: ['IMAGE_SAFETY'] });
  });

  it("turns Google's RESOURCE_EXHAUSTED with a RetryInfo delay into 429 with retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 21;
    const answer = await generate(rig.gateway, { model: 'gemini-2.5-flash-image', prompt: 'quota' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('21');
    expect(answer.body.error?.code).toBe('upstream_rate_limited');
  });
});

// Issue 10 item 4: Imagen is shut down on the Gemini API; its catalog names are served by Gemini 3 Pro Image.
describe('Imagen through the gateway', () => {
  it('serves imagen-4.0-generate-001 from gemini-3-pro-image over :generateContent, never :predict, and says so', async () => {
    const predictsBefore = rig.fake.counters.predict;
    const answer = await generate(rig.gateway, { model: 'imagen-4.0-generate-001', prompt: 'a harbour', size: '2048x2048' });
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([2048, 2048]);
    expect(lastGenerateContent()?.path).toBe('/v1beta/models/gemini-3-pro-image:generateContent');
    expect(rig.fake.counters.predict).toBe(predictsBefore);
    expect(answer.headers.get('x-imagegate-warnings')).toContain('imagen-4.0-generate-001 was shut down by google on 2026-08-17; served by its successor gemini-3-pro-image');
  });

  it('fans n: 3 of imagen-4.0-fast-generate-001 out into three Gemini calls (one image each)', async () => {
    const before = rig.fake.counters.generateContent;
    const answer = await generate(rig.gateway, { model: 'imagen-4.0-fast-generate-001', prompt: 'three robots', n: 3, aspect_ratio: '9:16' });
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(3);
    expect(rig.fake.counters.generateContent - before).toBe(3);
  });
});

describe('a google channel that says its upstream still serves the shut-down preview', () => {
  it('passes Google\'s 404 on as a 400 naming the model', async () => {
    const stale = await startTestGateway({
      channels: [googleChannel(rig.fake, { name: 'google-stale', models: ['gemini-3-pro-image-preview'], options: { serves_retired_models: true } })],
    });
    try {
      const answer = await generate(stale, { model: 'gemini-3-pro-image-preview', prompt: 'a harbour' });
      expect(answer.status).toBe(400);
      expect(answer.body.error?.message).toContain('google rejected the request (HTTP 404)');
      expect(answer.body.error?.message).toContain('models/gemini-3-pro-image-preview is not found');
      expect(lastGenerateContent()?.path).toBe('/v1beta/models/gemini-3-pro-image-preview:generateContent');
    } finally {
      await stale.close();
    }
  });
});

describe('Google with a key it rejects', () => {
  it('answers 502 upstream_auth_failed (Google says 400 API_KEY_INVALID) without the key in the body', async () => {
    const rejected = await startTestGateway({ channels: [googleChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'gemini-2.5-flash-image', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
    } finally {
      await rejected.close();
    }
  });
});
