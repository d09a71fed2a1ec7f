// Image streaming end to end: the official openai SDK consumes `stream: true` generations and edits
// from the offline engine and through an OpenAI-compatible channel to the OpenAI fake; raw fetch
// checks the wire (headers, heartbeats); failures before and during the stream; client disconnects.

import OpenAI, { toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, beforeAll, afterEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

interface StreamEvent {
  type: string;
  b64_json: string;
  created_at: number;
  size: string;
  quality: string;
  background: string;
  output_format: string;
  partial_image_index?: number;
  usage?: { total_tokens: number; input_tokens: number; output_tokens: number; input_tokens_details: { text_tokens: number; image_tokens: number } };
}

let gateway: TestGateway;
let client: OpenAI;
let slow: TestGateway;
let fake: OpenAIFake;
let relay: TestGateway;
let relayClient: OpenAI;

const heartbeatMs = 50;

function openaiChannel(upstream: OpenAIFake): ChannelConfig {
  return { name: 'openai-fake', provider: 'openai', base_url: `${upstream.url}/v1`, api_key: upstream.apiKey, models: ['gpt-image-1', 'gpt-image-2'] };
}

beforeAll(async () => {
  fake = await startOpenAIFake();
  [gateway, slow, relay] = await Promise.all([
    startTestGateway(),
    startTestGateway({ offlineLatencyMs: 600, streamHeartbeatMs: heartbeatMs }),
    startTestGateway({ channels: [openaiChannel(fake)] }),
  ]);
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
  relayClient = new OpenAI({ apiKey: relay.apiKey, baseURL: `${relay.url}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await Promise.all([gateway?.close(), slow?.close(), relay?.close()]);
  await fake?.close();
});

afterEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
  fake.streamGate = undefined;
});

/** Every event of a stream, and the error that ended it early, if one did. */
async function drain(stream: AsyncIterable<unknown>): Promise<{ events: StreamEvent[]; error: unknown }> {
  const events: StreamEvent[] = [];
  try {
    for await (const event of stream) events.push(event as StreamEvent);
  } catch (error) {
    return { events, error };
  }
  return { events, error: undefined };
}

async function decoded(event: StreamEvent | undefined) {
  const metadata = await sharp(Buffer.from(event?.b64_json ?? '', 'base64')).metadata();
  return [metadata.format, metadata.width, metadata.height];
}

const partialKeys = ['b64_json', 'background', 'created_at', 'output_format', 'partial_image_index', 'quality', 'size', 'type'];
const completedKeys = ['b64_json', 'background', 'created_at', 'output_format', 'quality', 'size', 'type'];
const usageKeys = ['input_tokens', 'input_tokens_details', 'output_tokens', 'total_tokens'];

/** A completed event has exactly OpenAI's fields; `usage`, when there is one, in the stream's shape. */
function expectCompletedShape(event: StreamEvent | undefined): void {
  const keys = Object.keys(event ?? {}).filter((key) => key !== 'usage');
  expect(keys.sort()).toEqual(completedKeys);
  if (event?.usage !== undefined) {
    expect(Object.keys(event.usage).sort()).toEqual(usageKeys);
    expect(Object.keys(event.usage.input_tokens_details).sort()).toEqual(['image_tokens', 'text_tokens']);
    expect(event.usage.total_tokens).toBe(event.usage.input_tokens + event.usage.output_tokens);
  }
}

describe('streaming from the offline engine through the openai SDK', () => {
  it.each([0, 2, 3])('partial_images %i: that many partial images, then the completed image', async (partials) => {
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1536x1024', stream: true, partial_images: partials });
    const { events, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(events.map((event) => event.type)).toEqual([...Array.from({ length: partials }, () => 'image_generation.partial_image'), 'image_generation.completed']);
    expect(events.slice(0, -1).map((event) => event.partial_image_index)).toEqual(Array.from({ length: partials }, (_, index) => index));
    for (const event of events.slice(0, -1)) expect(Object.keys(event).sort()).toEqual(partialKeys);
    const completed = events.at(-1);
    expectCompletedShape(completed);
    // The default quality is `auto`, reported as the tier it became (medium for the offline engine).
    expect(completed).toMatchObject({ size: '1536x1024', quality: 'medium', background: 'opaque', output_format: 'png' });
    expect(Number.isInteger(completed?.created_at)).toBe(true);
    for (const event of events) expect(await decoded(event)).toEqual(['png', 1536, 1024]);
    // Previews are previews: none of them is the final picture.
    for (const event of events.slice(0, -1)) expect(event.b64_json).not.toBe(completed?.b64_json);
  });

  it('sends previews and the image in the requested format, with a transparent background reported', async () => {
    const stream = await client.images.generate({
      model: 'gpt-image-1',
      prompt: 'a balloon',
      size: '1024x1024',
      output_format: 'webp',
      background: 'transparent',
      quality: 'low',
      stream: true,
      partial_images: 1,
    });
    const { events } = await drain(stream);
    expect(events).toHaveLength(2);
    for (const event of events) {
      expect(event).toMatchObject({ size: '1024x1024', quality: 'low', background: 'transparent', output_format: 'webp' });
      expect(await decoded(event)).toEqual(['webp', 1024, 1024]);
    }
  });

  it('with n = 2, each image has its partials followed by its own completed event', async () => {
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'two boats', n: 2, size: '1024x1024', stream: true, partial_images: 2 });
    const { events } = await drain(stream);
    expect(events.map((event) => [event.type, event.partial_image_index])).toEqual([
      ['image_generation.partial_image', 0],
      ['image_generation.partial_image', 1],
      ['image_generation.completed', undefined],
      ['image_generation.partial_image', 0],
      ['image_generation.partial_image', 1],
      ['image_generation.completed', undefined],
    ]);
    const [first, second] = [events[2], events[5]];
    expect(first?.b64_json).not.toBe(second?.b64_json);
    expect(await decoded(second)).toEqual(['png', 1024, 1024]);
  });

  it('streams edits as image_edit events', async () => {
    const source = await sharp({ create: { width: 256, height: 256, channels: 4, background: '#3366ff' } }).png().toBuffer();
    const stream = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'add a moon',
      image: await toFile(source, 'a.png', { type: 'image/png' }),
      size: '1024x1024',
      output_format: 'jpeg',
      stream: true,
      partial_images: 3,
    });
    const { events, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(events.map((event) => event.type)).toEqual(['image_edit.partial_image', 'image_edit.partial_image', 'image_edit.partial_image', 'image_edit.completed']);
    for (const event of events) expect(await decoded(event)).toEqual(['jpeg', 1024, 1024]);
  });

  it('a model whose catalog entry does not stream (dall-e-3) is refused with a 400 naming stream', async () => {
    // OpenAI's stream events carry `usage`, which only the gpt-image models produce; the SDK's types reject the rest.
    const error = await client.images.generate({ model: 'dall-e-3', prompt: 'a castle', size: '1024x1024', stream: true, partial_images: 0 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('stream');
    expect((error as Error).message).toMatch(/dall-e-3 does not support 'stream'.*gpt-image-1/);
  });
});

describe('errors around a stream', () => {
  it('rejects an invalid request before the stream with an ordinary JSON error the SDK raises', async () => {
    const error = await client.images.generate({ model: 'gpt-image-1', prompt: 'x', size: '512x512', stream: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    expect((error as InstanceType<typeof OpenAI.BadRequestError>).param).toBe('size');

    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-1', prompt: 'x', stream: true, partial_images: 4 }),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(((await response.json()) as { error: { param: string } }).error.param).toBe('partial_images');
  });

  it('answers a bad API key with a 401, not a stream', async () => {
    const stranger = new OpenAI({ apiKey: 'sk-not-a-key-of-this-gateway', baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const error = await stranger.images.generate({ model: 'gpt-image-1', prompt: 'x', stream: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('raises an upstream failure mid-stream as an APIError after the partials already sent', async () => {
    fake.switches.moderation = 'output';
    const stream = await relayClient.images.generate({ model: 'gpt-image-1', prompt: 'x', size: '1024x1024', quality: 'low', stream: true, partial_images: 2 });
    const { events, error } = await drain(stream);
    expect(events.map((event) => event.type)).toEqual(['image_generation.partial_image', 'image_generation.partial_image']);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    const apiError = error as InstanceType<typeof OpenAI.APIError>;
    expect(apiError.code).toBe('moderation_blocked');
    expect(apiError.type).toBe('image_generation_user_error');
  });

  it('raises an upstream rejection that came after the stream had started as an APIError with its code', async () => {
    fake.switches.moderation = 'input';
    const stream = await relayClient.images.generate({ model: 'gpt-image-1', prompt: 'x', size: '1024x1024', quality: 'low', stream: true });
    const { events, error } = await drain(stream);
    expect(events).toEqual([]);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('moderation_blocked');
  });

  it('sends the error event in OpenAI shape on the wire', async () => {
    fake.switches.moderation = 'input';
    const response = await fetch(`${relay.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${relay.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-1', prompt: 'x', stream: true }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    const match = /event: error\ndata: (.*)\n\n/.exec(text);
    const payload = JSON.parse(match?.[1] ?? 'null') as { type: string; error: Record<string, unknown> };
    expect(payload.type).toBe('error');
    expect(payload.error).toMatchObject({ type: 'image_generation_user_error', code: 'moderation_blocked', param: null });
    expect(typeof payload.error['message']).toBe('string');
  });
});

describe('the wire', () => {
  it('is text/event-stream with the request id and warnings headers, kept alive by heartbeat comments', async () => {
    const response = await fetch(`${slow.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${slow.apiKey}`, 'content-type': 'application/json', 'x-request-id': 'stream-wire-1' },
      body: JSON.stringify({ model: 'gpt-image-1', prompt: 'a slow sunrise', size: '1024x1024', style: 'vivid', stream: true, partial_images: 1 }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-request-id')).toBe('stream-wire-1');
    expect(response.headers.get('x-imagegate-warnings')).toContain('style');
    const text = await response.text();
    // The generation takes 600 ms and the heartbeat is 50 ms: comments arrive while it runs.
    expect(text.split('\n').filter((line) => line === ': keep-alive').length).toBeGreaterThanOrEqual(2);
    const events = [...text.matchAll(/^event: (.+)$/gm)].map((match) => match[1]);
    expect(events).toEqual(['image_generation.partial_image', 'image_generation.completed']);
  });
});

describe('through an OpenAI-compatible channel', () => {
  it('relays the upstream partial images while the upstream is still generating', async () => {
    let release = (): void => undefined;
    fake.streamGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const stream = await relayClient.images.generate({ model: 'gpt-image-2', prompt: 'an otter', size: '1024x1024', quality: 'low', stream: true, partial_images: 2 });
    const iterator = stream[Symbol.asyncIterator]();
    // Should the partials not come while the fake holds back, the guard lets the stream end and the test fail.
    let heldBackTooLong = false;
    const guard = setTimeout(() => {
      heldBackTooLong = true;
      release();
    }, 10_000);
    try {
      // The fake holds its completed event until released: these partials can only have been relayed live.
      const first = await iterator.next();
      const second = await iterator.next();
      expect(heldBackTooLong).toBe(false);
      expect([first.value?.type, second.value?.type]).toEqual(['image_generation.partial_image', 'image_generation.partial_image']);
      release();
      const rest: StreamEvent[] = [];
      for (let next = await iterator.next(); !next.done; next = await iterator.next()) rest.push(next.value as StreamEvent);
      expect(rest.map((event) => event.type)).toEqual(['image_generation.completed']);
      const completed = rest[0];
      expectCompletedShape(completed);
      // The upstream reported usage, and it reaches the client.
      expect(completed?.usage?.output_tokens).toBeGreaterThan(0);
      expect(await decoded(first.value as StreamEvent)).toEqual(['png', 1024, 1024]);
      expect((first.value as StreamEvent).b64_json).not.toBe(completed?.b64_json);
    } finally {
      clearTimeout(guard);
      release();
    }
    const upstream = fake.requests.at(-1)?.json as Record<string, unknown>;
    expect(upstream).toMatchObject({ model: 'gpt-image-2', stream: true, partial_images: 2 });
  });

  it('shares usage over the completed events of n = 2 so they add up to the call', async () => {
    const stream = await relayClient.images.generate({ model: 'gpt-image-1', prompt: 'two otters', n: 2, size: '1024x1024', quality: 'low', stream: true, partial_images: 1 });
    const { events } = await drain(stream);
    expect(events.map((event) => event.type)).toEqual([
      'image_generation.partial_image',
      'image_generation.completed',
      'image_generation.partial_image',
      'image_generation.completed',
    ]);
    const single = await relayClient.images.generate({ model: 'gpt-image-1', prompt: 'two otters', n: 1, size: '1024x1024', quality: 'low' });
    const outputs = events.filter((event) => event.usage).map((event) => event.usage?.output_tokens ?? 0);
    expect(outputs.reduce((sum, value) => sum + value, 0)).toBe((single.usage?.output_tokens ?? 0) * 2);
  });

  it('cancels the upstream request when the client disconnects mid-stream', async () => {
    let release = (): void => undefined;
    fake.streamGate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const abandonedBefore = fake.abandonedStreams;
    const controller = new AbortController();
    try {
      const response = await fetch(`${relay.url}/v1/images/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${relay.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-image-1', prompt: 'x', size: '1024x1024', quality: 'low', stream: true, partial_images: 1 }),
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      let text = '';
      while (!text.includes('event: image_generation.partial_image')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      expect(text).toContain('event: image_generation.partial_image');
      controller.abort();
      // The fake still holds its completed event, so only the gateway cancelling upstream ends its stream.
      await expect.poll(() => fake.abandonedStreams, { timeout: 5_000 }).toBe(abandonedBefore + 1);
    } finally {
      release();
    }
  });
});
