// OpenAI and Azure OpenAI end to end: requests through the gateway over HTTP to the OpenAI fake, in
// OpenAI's dialect (Bearer key, model in the body) and in Azure's (deployment URLs, api-version, api-key).

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { defaultOpenAIFakeApiKey, startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';

const wrongKey = 'sk-wrong-openai-key-do-not-echo-0a9f3c7d';

function openAIChannel(fake: OpenAIFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'openai',
    provider: 'openai',
    base_url: `${fake.url}/v1`,
    api_key: defaultOpenAIFakeApiKey,
    models: ['gpt-image-1', 'dall-e-2'],
    // A relay that still serves DALL·E under its own name (OpenAI itself shut it down: see retired-models.test.ts).
    options: { serves_retired_models: true },
    ...overrides,
  };
}

function azureChannel(fake: OpenAIFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'azure',
    provider: 'azure',
    base_url: fake.url,
    api_key: defaultOpenAIFakeApiKey,
    models: ['gpt-image-1.5', 'dall-e-3'],
    // A resource that still has a DALL·E 3 deployment.
    options: { api_version: '2025-04-01-preview', deployments: { 'gpt-image-1.5': 'images-prod' }, serves_retired_models: true },
    ...overrides,
  };
}

// A relay that still serves the models OpenAI shut down (the channels below say so too).
const rig = useProviderRig(
  () => startOpenAIFake({ azureDeployments: { 'images-prod': 'gpt-image-1.5', 'dall-e-3': 'dall-e-3' }, servesRetiredModels: true }),
  (fake) => {
    // A compatible server that makes one image per call (as many local engines do), set by channel option.
    const oneAtATime = openAIChannel(fake, { name: 'one-at-a-time', models: ['gpt-image-1-mini'], options: { max_images_per_call: 1 } });
    return [openAIChannel(fake), azureChannel(fake), oneAtATime];
  },
);

const lastRequest = (pathStart: string) => [...rig.fake.requests].reverse().find((request) => request.path.startsWith(pathStart));

describe('OpenAI through the gateway', () => {
  it('generates with gpt-image-1: the body reaches OpenAI as sent, the image and usage come back', async () => {
    const answer = await generate(rig.gateway, { model: 'gpt-image-1', prompt: 'a lighthouse', size: '1536x1024', quality: 'low', output_format: 'jpeg' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('openai');
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['jpeg', 1536, 1024]);
    const request = lastRequest('/v1/images/generations');
    expect(request?.headers['authorization']).toBe(`Bearer ${defaultOpenAIFakeApiKey}`);
    expect(request?.json).toMatchObject({ model: 'gpt-image-1', prompt: 'a lighthouse', n: 1, size: '1536x1024', quality: 'low', output_format: 'jpeg' });
    expect(answer.body).toMatchObject({ usage: { output_tokens: expect.any(Number) } });
  });

  it('re-sends an edit as multipart with every image and the mask', async () => {
    const first = await inputImage(256, 256);
    const second = await inputImage(128, 128);
    const mask = await sharp({ create: { width: 256, height: 256, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const answer = await edit(rig.gateway, { model: 'gpt-image-1', prompt: 'add a moon', size: '1024x1024' }, [first, second], mask);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([1024, 1024]);
    const request = lastRequest('/v1/images/edits');
    expect(String(request?.headers['content-type'])).toMatch(/^multipart\/form-data/);
    const body = request?.body.toString('latin1') ?? '';
    expect(body.match(/name="image\[\]"/g)).toHaveLength(2);
    expect(body).toContain('name="mask"');
  });

  it('fans n: 3 out into three upstream calls on a channel limited to one image per call', async () => {
    const before = rig.fake.imageCalls;
    const answer = await generate(rig.gateway, { model: 'gpt-image-1-mini', prompt: 'three owls', n: 3 });
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(3);
    expect(rig.fake.imageCalls - before).toBe(3);
    const calls = rig.fake.requests.filter((request) => request.path === '/v1/images/generations').slice(-3);
    expect(calls.map((request) => (request.json as { n: number }).n)).toEqual([1, 1, 1]);
  });

  it('asks DALL·E for base64 and re-hosts the image on the gateway for response_format url', async () => {
    const answer = await generate(rig.gateway, { model: 'dall-e-2', prompt: 'an owl', size: '512x512', response_format: 'url' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([512, 512]);
    expect(answer.body.data?.[0]?.url?.startsWith(`${rig.gateway.url}/`)).toBe(true);
    expect(lastRequest('/v1/images/generations')?.json).toMatchObject({ model: 'dall-e-2', size: '512x512', response_format: 'b64_json' });
  });

  it('passes moderation_blocked through for gpt-image models, with the stage', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'gpt-image-1', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('moderation_blocked');
    expect(answer.body.error?.type).toBe('image_generation_user_error');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });
  });

  it('answers content_policy_violation about the input for DALL·E', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'dall-e-2', prompt: 'flagged words' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it('delivers fewer images than asked with a warning naming the count', async () => {
    rig.fake.switches.maxImages = 1;
    const answer = await generate(rig.gateway, { model: 'gpt-image-1', prompt: 'three, maybe', n: 3 });
    expect(answer.status).toBe(200);
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(1);
    expect(answer.headers.get('x-imagegate-warnings')).toContain('delivered 1 of 3 images');
  });

  it("passes OpenAI's 429 on with its retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 9;
    const answer = await generate(rig.gateway, { model: 'gpt-image-1', prompt: 'rate limited' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('9');
  });
});

describe('Azure OpenAI through the gateway', () => {
  it('calls the deployment URL with api-version and the api-key header, without model in the body', async () => {
    const answer = await generate(rig.gateway, { model: 'gpt-image-1.5', prompt: 'a harbour at noon' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('azure');
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(1);
    const request = lastRequest('/openai/deployments/');
    expect(request?.path).toBe('/openai/deployments/images-prod/images/generations?api-version=2025-04-01-preview');
    expect(request?.headers['api-key']).toBe(defaultOpenAIFakeApiKey);
    expect(request?.headers['authorization']).toBeUndefined();
    expect((request?.json as Record<string, unknown>)['model']).toBeUndefined();
  });

  it('edits through the deployment as multipart', async () => {
    const answer = await edit(rig.gateway, { model: 'gpt-image-1.5', prompt: 'paint it blue' }, [await inputImage(256, 256)]);
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(1);
    expect(lastRequest('/openai/deployments/')?.path).toBe('/openai/deployments/images-prod/images/edits?api-version=2025-04-01-preview');
  });

  it("maps Azure's content filter to moderation_blocked for a gpt-image model, about the input", async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'gpt-image-1.5', prompt: 'flagged words' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('moderation_blocked');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it("maps Azure's filtered output to content_policy_violation for DALL·E 3, about the output", async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'dall-e-3', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(lastRequest('/openai/deployments/')?.path).toBe('/openai/deployments/dall-e-3/images/generations?api-version=2025-04-01-preview');
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });
  });
});

describe('OpenAI and Azure with a key they reject', () => {
  it('answers 502 upstream_auth_failed without the key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [openAIChannel(rig.fake, { api_key: wrongKey }), azureChannel(rig.fake, { api_key: wrongKey })] });
    try {
      for (const model of ['gpt-image-1', 'gpt-image-1.5']) {
        const answer = await generate(rejected, { model, prompt: 'who am I' });
        expect(answer.status).toBe(502);
        expect(answer.body.error?.code).toBe('upstream_auth_failed');
        expect(answer.text).not.toContain(wrongKey);
        // OpenAI echoes a masked key (sk-wron…3c7d); none of it is passed on.
        expect(answer.text).not.toContain('3c7d');
      }
    } finally {
      await rejected.close();
    }
  });
});
