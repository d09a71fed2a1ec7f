// The openai adapter's partial-image streaming against the OpenAI fake over real HTTP: what the
// upstream is asked for, previews relayed while the upstream is still generating, and stream failures.

import sharp from 'sharp';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, PartialImage, ProviderImage } from '../../core/ports/image-model.js';
import { startFakeServer, makeTestImage, type FakeServer } from '../../testing/fakes/shared.js';
import { startOpenAIFake, type OpenAIFake } from '../../testing/fakes/openai.js';
import { useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { GuardedHttpClient } from '../shared/http-client.js';
import { createOpenAIProvider } from './index.js';
import { createImageStreamReader } from './stream.js';
import { classifyOpenAIModeration } from './wire.js';

const apiKey = 'sk-live-secretvalue0123456789';
// One fake for the file, its switches cleared after each test (src/testing/provider-test-kit.ts).
// A relay that still serves DALL·E (the adapter keeps its wire rules for such upstreams).
const upstream = useUpstreamFake(() => startOpenAIFake({ apiKey, servesRetiredModels: true }), 'file');
let fake: OpenAIFake;
let http: GuardedHttpClient;

beforeAll(() => {
  fake = upstream.fake;
  http = upstream.http;
});

afterEach(() => {
  fake.streamGate = undefined;
});

function model(name = 'gpt-image-1', baseURL = `${fake.url}/v1`) {
  return createOpenAIProvider({ channel: 'test', baseURL, apiKey, http })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return {
    model: 'gpt-image-1',
    prompt: 'a red fox in the snow',
    n: 1,
    size: { width: 1024, height: 1024 },
    aspectRatio: '1:1',
    quality: 'low',
    outputFormat: 'png',
    providerOptions: {},
    images: [],
    abortSignal: new AbortController().signal,
    ...overrides,
  };
}

function bytesOf(image: ProviderImage | undefined): Buffer {
  if (image?.kind !== 'bytes') throw new Error(`expected bytes, got ${JSON.stringify(image)}`);
  return image.data;
}

const lastBody = (): Record<string, unknown> => fake.requests.at(-1)?.json as Record<string, unknown>;

describe('openai adapter, partial images', () => {
  it('asks the upstream to stream and relays each partial before the image is complete', async () => {
    let release = (): void => undefined;
    fake.streamGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const partials: PartialImage[] = [];
    let twoPartialsSeen: () => void = () => undefined;
    const sawTwo = new Promise<void>((resolve) => {
      twoPartialsSeen = resolve;
    });
    const call = model().generate(
      callOptions({
        partialImages: 2,
        outputFormat: 'webp',
        onPartialImage: (image) => {
          partials.push(image);
          if (partials.length === 2) twoPartialsSeen();
        },
      }),
    );
    // The upstream holds its completed event until released: the previews can only have come live.
    await sawTwo;
    expect(fake.imageCalls).toBeGreaterThan(0);
    release();
    const result = await call;

    expect(lastBody()).toMatchObject({ stream: true, partial_images: 2, model: 'gpt-image-1' });
    expect(fake.requests.at(-1)?.headers['accept']).toBe('text/event-stream');
    expect(partials.map((image) => [image.index, image.partialImageIndex])).toEqual([
      [0, 0],
      [0, 1],
    ]);
    const preview = await sharp(partials[0]?.data).metadata();
    expect([preview.format, preview.width, preview.height]).toEqual(['webp', 1024, 1024]);
    const final = bytesOf(result.images[0]);
    expect(final.equals(partials[1]?.data ?? Buffer.alloc(0))).toBe(false);
    expect((await sharp(final).metadata()).format).toBe('webp');
    expect(result.usage?.outputTokens).toBeGreaterThan(0);
  });

  it('gives each image of n = 2 its own partials, in order', async () => {
    const partials: PartialImage[] = [];
    const result = await model().generate(callOptions({ n: 2, partialImages: 1, onPartialImage: (image) => partials.push(image) }));
    expect(result.images).toHaveLength(2);
    expect(partials.map((image) => [image.index, image.partialImageIndex])).toEqual([
      [0, 0],
      [1, 0],
    ]);
    // The prompt is counted once, each image's output tokens add up.
    const single = await model().generate(callOptions({ n: 1, partialImages: 1, onPartialImage: () => undefined }));
    expect(result.usage?.inputTokens).toBe(single.usage?.inputTokens);
    expect(result.usage?.outputTokens).toBe((single.usage?.outputTokens ?? 0) * 2);
  });

  it('streams edits as image_edit events', async () => {
    const image = { data: await makeTestImage(64, 64, 'png', 2), mediaType: 'image/png' as const, width: 64, height: 64 };
    const partials: PartialImage[] = [];
    const result = await model().edit!(callOptions({ images: [image], partialImages: 3, onPartialImage: (partial) => partials.push(partial) }));
    expect(partials).toHaveLength(3);
    expect(result.images).toHaveLength(1);
    expect(fake.requests.at(-1)?.body.toString('latin1')).toContain('name="partial_images"\r\n\r\n3');
  });

  it.each([
    ['nobody listens', callOptions({ partialImages: 2 })],
    ['partial_images is 0', callOptions({ partialImages: 0, onPartialImage: () => undefined })],
    ['the model is not a gpt-image model', callOptions({ model: 'dall-e-3', partialImages: 2, onPartialImage: () => undefined })],
  ])('makes an ordinary JSON call when %s', async (_, options) => {
    const result = await model(options.model).generate(options);
    expect(result.images).toHaveLength(1);
    expect(lastBody()['stream']).toBeUndefined();
    expect(lastBody()['partial_images']).toBeUndefined();
  });

  it('raises a mid-stream error event as the moderation error it reports', async () => {
    fake.switches.moderation = 'output';
    const partials: PartialImage[] = [];
    const error = await model()
      .generate(callOptions({ partialImages: 2, onPartialImage: (image) => partials.push(image) }))
      .catch((caught: unknown) => caught);
    expect(partials).toHaveLength(2);
    expect(error).toBeInstanceOf(GatewayError);
    expect((error as GatewayError).code).toBe('moderation_blocked');
    expect((error as GatewayError).details).toMatchObject({ moderation_details: { moderation_stage: 'output' } });
  });

  it('maps an error answered before the stream as an ordinary error response', async () => {
    fake.switches.failStatus = 503;
    const error = await model().generate(callOptions({ partialImages: 1, onPartialImage: () => undefined })).catch((caught: unknown) => caught);
    expect((error as GatewayError).code).toBe('upstream_error');
  });

  it('cancels the upstream stream when the caller aborts', async () => {
    let release = (): void => undefined;
    fake.streamGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const abandonedBefore = fake.abandonedStreams;
    const controller = new AbortController();
    const reason = new GatewayError('server_error', 'The client closed the connection.');
    const error = await model()
      .generate(callOptions({ partialImages: 1, abortSignal: controller.signal, onPartialImage: () => controller.abort(reason) }))
      .catch((caught: unknown) => caught);
    expect(error).toBe(reason);
    // The fake is still holding its completed event: only a closed connection can have ended the stream.
    await expect.poll(() => fake.abandonedStreams).toBe(abandonedBefore + 1);
    release();
  });

  it('reads an ordinary JSON answer from a compatible server that ignores stream', async () => {
    let server: FakeServer | undefined;
    try {
      const png = await makeTestImage(32, 32, 'png', 5);
      server = await startFakeServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ created: 1, data: [{ b64_json: png.toString('base64') }] }));
      });
      const partials: PartialImage[] = [];
      const result = await model('gpt-image-1', `${server.url}/v1`).generate(callOptions({ partialImages: 2, onPartialImage: (image) => partials.push(image) }));
      expect(partials).toEqual([]);
      expect(bytesOf(result.images[0]).equals(png)).toBe(true);
      expect(server.requests[0]?.json).toMatchObject({ stream: true, partial_images: 2 });
    } finally {
      await server?.close();
    }
  });
});

describe('createImageStreamReader', () => {
  const png = Buffer.from('89504e470d0a1a0a0000', 'hex');
  function reader(partials: PartialImage[] = []) {
    return createImageStreamReader({
      provider: 'openai',
      model: 'gpt-image-1',
      requested: 1,
      onPartialImage: (image) => partials.push(image),
      classifyModeration: classifyOpenAIModeration,
      secrets: [apiKey],
    });
  }
  const event = (name: string, data: unknown): Buffer => Buffer.from(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);

  it('ignores comments, [DONE] and unknown events around the completed image', () => {
    const stream = reader();
    stream.push(Buffer.from(': keep-alive\n\n'), {});
    stream.push(event('image_generation.something_new', { type: 'image_generation.something_new' }), {});
    stream.push(event('image_generation.completed', { type: 'image_generation.completed', b64_json: png.toString('base64'), output_format: 'png' }), {});
    stream.push(Buffer.from('data: [DONE]\n\n'), {});
    const result = stream.finish();
    expect(result.images).toEqual([{ kind: 'bytes', data: png, mediaType: 'image/png' }]);
  });

  it('fails as a server error on an error event of type server_error, scrubbing secrets', () => {
    const stream = reader();
    stream.push(event('error', { type: 'error', error: { type: 'server_error', code: null, message: `boom with ${apiKey}`, param: null } }), { 'x-request-id': 'req_1' });
    const error = (() => {
      try {
        stream.finish();
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect((error as GatewayError).code).toBe('upstream_error');
    expect((error as GatewayError).message).not.toContain(apiKey);
  });

  it('fails when the stream ends without a completed image, or sends something that is not JSON', () => {
    const empty = reader();
    empty.push(event('image_generation.partial_image', { type: 'image_generation.partial_image', b64_json: png.toString('base64'), partial_image_index: 0 }), {});
    expect(() => empty.finish()).toThrow(/without a completed image/);
    const garbled = reader();
    garbled.push(Buffer.from('data: {not json\n\n'), {});
    expect(() => garbled.finish()).toThrow(/not JSON/);
  });
});
