// fal.ai end to end: OpenAI-format requests through the gateway over HTTP to the fal queue fake
// (submit, poll the status URL the queue returned, fetch the result, cancel on abort).

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { falFakeDefaultApiKey, startFalFake, type FalFake } from '../../src/testing/fakes/fal.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { generate, generateAbortable, imagesOf, ratioOf, useProviderRig, waitUntil } from './providers-support.js';

const wrongKey = 'wrong-key-id:wrong-secret-do-not-echo-91ac';

function falChannel(fake: FalFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'fal',
    provider: 'fal',
    base_url: fake.url,
    api_key: falFakeDefaultApiKey,
    models: ['flux-schnell', 'flux-dev', 'flux-1.1-pro-ultra'],
    model_map: { 'flux-schnell': 'fal-ai/flux/schnell', 'flux-dev': 'fal-ai/flux/dev', 'flux-1.1-pro-ultra': 'fal-ai/flux-pro/v1.1-ultra' },
    poll_interval_ms: 10,
    timeout_ms: 20_000,
    ...overrides,
  };
}

const rig = useProviderRig(startFalFake, (fake) => [falChannel(fake)]);

const submissionsOf = (model: string) => rig.fake.requests.filter((request) => request.method === 'POST' && request.path === `/${model}`);

/** Mean brightness 0–255: fal's flagged images are black. */
async function brightness(data: Buffer): Promise<number> {
  const stats = await sharp(data).stats();
  return stats.channels.slice(0, 3).reduce((sum, channel) => sum + channel.mean, 0) / 3;
}

describe('fal through the gateway', () => {
  it('submits to the queue with the Key scheme, polls the returned status URL and re-hosts the images', async () => {
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'a paper crane', n: 2, size: '1024x768' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('fal');
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.format, image.width, image.height])).toEqual([
      ['png', 1024, 768],
      ['png', 1024, 768],
    ]);
    const submit = submissionsOf('fal-ai/flux/schnell').at(-1);
    expect(submit?.headers['authorization']).toBe(`Key ${falFakeDefaultApiKey}`);
    // 1024x768 is exactly one of fal's presets, so it goes by name; both images come from one request.
    expect(submit?.json).toMatchObject({ prompt: 'a paper crane', num_images: 2, image_size: 'landscape_4_3', output_format: 'png', enable_safety_checker: true });
    // Status and result live under the app path without the /schnell subpath, as the queue said.
    expect(rig.fake.requests.some((request) => request.method === 'GET' && /^\/fal-ai\/flux\/requests\/[0-9a-f-]+\/status/.test(request.path))).toBe(true);
  });

  it('sends a size that is no preset as a custom image_size, and fans n: 6 into requests of at most four', async () => {
    const before = submissionsOf('fal-ai/flux/dev').length;
    const answer = await generate(rig.gateway, { model: 'flux-dev', prompt: 'six tiles', n: 6, size: '1216x832', response_format: 'b64_json' });
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(6);
    expect(images.every((image) => image.width === 1216 && image.height === 832)).toBe(true);
    const sent = submissionsOf('fal-ai/flux/dev').slice(before).map((request) => request.json as Record<string, unknown>);
    expect(sent.map((input) => input['num_images']).sort()).toEqual([2, 4]);
    expect(sent[0]?.['image_size']).toEqual({ width: 1216, height: 832 });
  });

  it('sends ultra an aspect_ratio and gets that shape back', async () => {
    const answer = await generate(rig.gateway, { model: 'flux-1.1-pro-ultra', prompt: 'a long bridge', aspect_ratio: '21:9', response_format: 'b64_json' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect(ratioOf(image ?? { width: 0, height: 1 })).toBeCloseTo(21 / 9, 1);
    expect(submissionsOf('fal-ai/flux-pro/v1.1-ultra').at(-1)?.json).toMatchObject({ aspect_ratio: '21:9' });
  });

  it('withholds images flagged by has_nsfw_concepts and delivers the rest with a warning', async () => {
    rig.fake.switches.flaggedImageIndexes = [1];
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'one of these is dark', n: 3, response_format: 'b64_json' });
    expect(answer.status).toBe(200);
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(2);
    // The black placeholder never reaches the client.
    for (const image of images) expect(await brightness(image.data)).toBeGreaterThan(20);
    const warnings = answer.headers.get('x-imagegate-warnings') ?? '';
    expect(warnings).toContain("1 of 3 generated images were withheld because fal's safety checker flagged them");
    expect(warnings).toContain('delivered 2 of 3 images');
  });

  it('answers content_policy_violation about the output when every image is flagged', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'all dark' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });
  });

  it('answers content_policy_violation about the input for a flagged prompt', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'flagged words' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.message).toContain('prompt or input image was flagged');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it('delivers fewer images than asked with a warning naming the count', async () => {
    rig.fake.switches.maxImages = 1;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'three, maybe', n: 3, response_format: 'b64_json' });
    expect(answer.status).toBe(200);
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(1);
    expect(answer.headers.get('x-imagegate-warnings')).toContain('delivered 1 of 3 images');
  });

  it("passes fal's 429 on with its retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 3;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'busy' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('3');
  });

  it('answers 502 when the result file expired before the download, saying so', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'expired' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.message).toMatch(/could not be downloaded \(HTTP 404\); it may have expired/);
  });

  it('cancels the queued request when the client aborts', async () => {
    rig.fake.switches.pollsBeforeReady = 100_000;
    const cancelsBefore = rig.fake.cancels;
    const controller = new AbortController();
    const pending = generateAbortable(rig.gateway, { model: 'flux-schnell', prompt: 'changed my mind' }, controller.signal).catch((error: unknown) => error);
    const job = () => [...rig.fake.jobs.values()].find((candidate) => candidate.input['prompt'] === 'changed my mind');
    await waitUntil(() => job() !== undefined && rig.fake.requests.some((request) => request.path.includes('/status')), 'the request is queued and polled');
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitUntil(() => rig.fake.cancels > cancelsBefore, 'the gateway cancels the request');
    expect(rig.fake.requests.some((request) => request.method === 'PUT' && request.path.endsWith('/cancel'))).toBe(true);
    expect(job()?.canceled).toBe(true);
  });
});

describe('fal channel options', () => {
  it('image_size: preset sends only named presets, reporting the substitution', async () => {
    const presetsOnly = await startTestGateway({ channels: [falChannel(rig.fake, { options: { image_size: 'preset' } })] });
    try {
      const answer = await generate(presetsOnly, { model: 'flux-dev', prompt: 'nearly square', size: '1216x832', response_format: 'b64_json' });
      const [image] = await imagesOf(presetsOnly, answer);
      expect([image?.width, image?.height]).toEqual([1024, 768]);
      expect(submissionsOf('fal-ai/flux/dev').at(-1)?.json).toMatchObject({ image_size: 'landscape_4_3' });
      expect(answer.headers.get('x-imagegate-warnings')).toContain('using landscape_4_3 (1024x768)');
    } finally {
      await presetsOnly.close();
    }
  });
});

describe('fal with a key it rejects', () => {
  it('answers 502 upstream_auth_failed without the key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [falChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'flux-schnell', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
      expect(answer.text).not.toContain('wrong-secret');
    } finally {
      await rejected.close();
    }
  });
});
