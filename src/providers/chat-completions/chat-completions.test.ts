// The chat-completions adapter against its fake through the real guarded HTTP client: the chat body each
// Images API call becomes, the three answer shapes relays use, usage, and every error class.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { chatCompletionsFakeApiKey, startChatCompletionsFake, type ChatCompletionsFake, type ChatImageFlavour } from '../../testing/fakes/chat-completions.js';
import { abortAfter, bytesOf, downloadedMetadata, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createChatCompletionsProvider, createOpenRouterProvider } from './index.js';

const upstream = useUpstreamFake(startChatCompletionsFake, 'file');
const flash = 'google/gemini-2.5-flash-image';
const pro = 'google/gemini-3-pro-image-preview';

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createOpenRouterProvider({ channel: 'or-test', baseURL: `${upstream.fake.url}/api/v1`, apiKey: chatCompletionsFakeApiKey, http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: flash, prompt: 'a lighthouse at dawn', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

async function pngInput(width: number, height: number): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: 3, background: '#3366aa' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

async function sizeOf(image: Parameters<typeof bytesOf>[0]): Promise<[number | undefined, number | undefined, string | undefined]> {
  const metadata = await sharp(bytesOf(image)).metadata();
  return [metadata.width, metadata.height, metadata.format];
}

describe('generations on OpenRouter', () => {
  it('sends one chat completion with modalities and image_config, and returns the image from message.images with usage', async () => {
    const result = await model(flash).generate(callOptions({ size: { width: 1344, height: 768 }, aspectRatio: '16:9', seed: 7, user: 'end-user-1' }));
    const sent = upstream.fake.requests.at(-1);
    expect(sent?.path).toBe('/api/v1/chat/completions');
    expect(sent?.headers['authorization']).toBe(`Bearer ${chatCompletionsFakeApiKey}`);
    expect(sent?.json).toEqual({
      model: flash,
      messages: [{ role: 'user', content: 'a lighthouse at dawn' }],
      modalities: ['image', 'text'],
      stream: false,
      image_config: { aspect_ratio: '16:9' },
      seed: 7,
      user: 'end-user-1',
    });
    expect(result.images).toHaveLength(1);
    expect(await sizeOf(result.images[0])).toEqual([1344, 768, 'png']);
    expect(result.usage).toEqual({ inputTokens: 5, outputTokens: 1290 });
    expect(result.upstreamRequestId).toMatch(/^gen-/);
    expect(result.warnings).toEqual([]);
  });

  it('asks Gemini 3 for the tier that reaches the asked pixels (image_size) and maps other ratios to the nearest with a warning', async () => {
    const result = await model(pro).generate(callOptions({ model: pro, size: { width: 2048, height: 2048 }, aspectRatio: '1:1' }));
    expect((upstream.fake.requests.at(-1)?.json as Record<string, unknown>)['image_config']).toEqual({ aspect_ratio: '1:1', image_size: '2K' });
    expect(await sizeOf(result.images[0])).toEqual([2048, 2048, 'png']);
    expect(result.warnings).toEqual([]);

    const odd = await model(flash).generate(callOptions({ size: { width: 1000, height: 500 }, aspectRatio: '2:1' }));
    expect((upstream.fake.requests.at(-1)?.json as Record<string, unknown>)['image_config']).toEqual({ aspect_ratio: '16:9' });
    expect(odd.warnings).toEqual([expect.objectContaining({ type: 'mapped', message: expect.stringContaining('16:9') })]);
  });

  it('sends other models only the ratio: they choose their pixels, so a size off the Gemini tiers is no warning', async () => {
    const result = await model('openai/gpt-5-image').generate(callOptions({ model: 'openai/gpt-5-image', size: { width: 1536, height: 1024 }, aspectRatio: '3:2' }));
    expect((upstream.fake.requests.at(-1)?.json as Record<string, unknown>)['image_config']).toEqual({ aspect_ratio: '3:2' });
    expect(result.images).toHaveLength(1);
    expect(result.warnings).toEqual([]);
  });

  it('reports what it cannot send, keeps the fields the gateway sets, and passes OpenRouter’s own fields through', async () => {
    const result = await model(flash).generate(
      callOptions({ quality: 'high', style: 'vivid', background: 'transparent', providerOptions: { model: 'openai/gpt-5-image', models: ['x/y'], provider: { order: ['google-vertex'] } } }),
    );
    const body = upstream.fake.requests.at(-1)?.json as Record<string, unknown>;
    expect(body['model']).toBe(flash);
    expect(body).not.toHaveProperty('models');
    expect(body['provider']).toEqual({ order: ['google-vertex'] });
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['background', 'model', 'models', 'quality', 'style']);
  });
});

describe('edits', () => {
  it('sends the prompt first, then each input image as an image_url data URL; a mask is reported, not sent', async () => {
    const inputs = [await pngInput(96, 64), await pngInput(40, 40)];
    const result = await model(flash).edit!(callOptions({ prompt: 'make it sunset', images: inputs, mask: await pngInput(96, 64) }));
    const body = upstream.fake.requests.at(-1)?.json as { messages: { content: { type: string; text?: string; image_url?: { url: string } }[] }[] };
    const content = body.messages[0]?.content ?? [];
    expect(content.map((part) => part.type)).toEqual(['text', 'image_url', 'image_url']);
    expect(content[0]?.text).toBe('make it sunset');
    expect(content[1]?.image_url?.url).toBe(`data:image/png;base64,${inputs[0]?.data.toString('base64')}`);
    expect(upstream.fake.jobs.at(-1)?.inputs).toEqual([
      { width: 96, height: 64, format: 'png' },
      { width: 40, height: 40, format: 'png' },
    ]);
    expect(result.images).toHaveLength(1);
    expect(result.warnings).toEqual([expect.objectContaining({ param: 'mask', type: 'unsupported' })]);
  });
});

describe('answer shapes of other relays', () => {
  async function withRelay(flavour: ChatImageFlavour, run: (relay: ImageModel, fake: ChatCompletionsFake) => Promise<void>, name = 'gemini-2.5-flash-image'): Promise<void> {
    const fake = await startChatCompletionsFake({ flavour });
    try {
      await run(createChatCompletionsProvider({ channel: 'relay', baseURL: `${fake.url}/v1`, apiKey: chatCompletionsFakeApiKey, http: upstream.http })(name), fake);
    } finally {
      await fake.close();
    }
  }

  it('reads new-api’s markdown data image inside a string content', async () => {
    await withRelay('new-api', async (relay) => {
      const result = await relay.generate(callOptions({ model: 'gemini-2.5-flash-image', size: { width: 832, height: 1248 }, aspectRatio: '2:3' }));
      expect(await sizeOf(result.images[0])).toEqual([832, 1248, 'png']);
      expect(result.usage?.outputTokens).toBe(1290);
    });
  });

  it('sends Gemini 3 Pro Image under its GA name with the 4K tier, and reads the 4K image', async () => {
    await withRelay(
      'new-api',
      async (relay, fake) => {
        const result = await relay.generate(callOptions({ model: 'gemini-3-pro-image', size: { width: 4096, height: 4096 }, aspectRatio: '1:1' }));
        expect(fake.requests.at(-1)?.json).toMatchObject({ model: 'gemini-3-pro-image', image_config: { aspect_ratio: '1:1', image_size: '4K' } });
        expect(await sizeOf(result.images[0])).toEqual([4096, 4096, 'png']);
        expect(result.usage?.outputTokens).toBe(2000);
      },
      'gemini-3-pro-image',
    );
  });

  it('reads an image_url content part', async () => {
    await withRelay('parts', async (relay) => {
      const result = await relay.generate(callOptions({ model: 'gemini-2.5-flash-image' }));
      expect(await sizeOf(result.images[0])).toEqual([1024, 1024, 'png']);
    });
  });

  it('hands a hosted markdown link to the core as a URL, to be downloaded through the guarded client', async () => {
    await withRelay('link', async (relay) => {
      const result = await relay.generate(callOptions({ model: 'gemini-2.5-flash-image' }));
      expect(result.images[0]?.kind).toBe('url');
      const metadata = await downloadedMetadata(upstream.http, result.images[0]);
      expect([metadata.width, metadata.height]).toEqual([1024, 1024]);
    });
  });

  it('refuses a chat-completions channel without a base_url, and bad channel options when built', () => {
    expect(() => createChatCompletionsProvider({ channel: 'relay', baseURL: '', apiKey: 'k', http: upstream.http })).toThrow(/needs base_url/);
    expect(() => createOpenRouterProvider({ channel: 'or', baseURL: '', apiKey: 'k', http: upstream.http, options: { modalities: ['text'] } })).toThrow(/modalities/);
  });
});

describe('errors', () => {
  it('401 → upstream_auth_failed, without the key in the message', async () => {
    const error = await gatewayErrorOf(model(flash, { apiKey: 'sk-or-v1-wrong-key-0000000000' }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_auth_failed', false]);
    expect(error.message).not.toContain('sk-or-v1-wrong');
  });

  it('402 insufficient credits → upstream_out_of_funds (failover), not bad credentials', async () => {
    upstream.fake.switches.outOfFunds = true;
    const error = await gatewayErrorOf(model(flash).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_out_of_funds', true]);
  });

  it('403 with moderation metadata → content_policy_violation at the input stage, with the reasons', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(model(flash).generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['violence'] } });
  });

  it('finish_reason content_filter without an image → content_policy_violation at the output stage', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(model(flash).generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: ['IMAGE_SAFETY'] } });
  });

  it('429 → upstream_rate_limited with retry-after; 502 → upstream_error, retryable', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 7;
    const limited = await gatewayErrorOf(model(flash).generate(callOptions()));
    expect([limited.code, limited.retryAfterSeconds]).toEqual(['upstream_rate_limited', 7]);
    upstream.fake.switches.failStatus = 502;
    const failed = await gatewayErrorOf(model(flash).generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
  });

  it('a 200 answer with text and no image → upstream_error saying what the model wrote, not retried', async () => {
    upstream.fake.switches.maxImages = 0;
    const error = await gatewayErrorOf(model(flash).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_error', false]);
    expect(error.message).toContain('answered without an image');
    expect(error.message).toContain('only text');
  });

  it('an error inside a 200 answer keeps its class: 502 → upstream_error, 402 → upstream_out_of_funds', async () => {
    upstream.fake.switches.errorInBody = 502;
    expect((await gatewayErrorOf(model(flash).generate(callOptions()))).code).toBe('upstream_error');
    upstream.fake.switches.errorInBody = 402;
    expect((await gatewayErrorOf(model(flash).generate(callOptions()))).code).toBe('upstream_out_of_funds');
  });

  it('a truncated body → upstream_invalid_response', async () => {
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(model(flash).generate(callOptions()))).code).toBe('upstream_invalid_response');
  });

  it('stops at once when the client goes away, with the caller’s reason', async () => {
    upstream.fake.switches.hang = true;
    const reason = new Error('client went away');
    const started = Date.now();
    await expect(model(flash).generate(callOptions({ abortSignal: abortAfter(reason, 100) }))).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
