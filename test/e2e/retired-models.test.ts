// Issue 10, "Done when": the relay documents' dall-e-3 requests (the relays' published examples 003 and 004), sent to a
// gateway whose only channel is an `openai` channel without a model_map (configured, or detected
// from OPENAI_API_KEY), reach the OpenAI fake — which refuses dall-e-3 as today's API does — as a
// request it accepts, and come back in dall-e-3's shape with every translation reported.

import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { defaultOpenAIFakeApiKey, startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { generate } from './providers-support.js';

let fake: OpenAIFake;
let closers: Array<() => Promise<void>> = [];

beforeAll(async () => {
  // OpenAI as it is today: dall-e-2/-3 (and gpt-image-1.5 …) answer 404 model_not_found.
  fake = await startOpenAIFake();
});
afterAll(async () => {
  await fake.close();
});
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

async function gatewayWith(channels: ChannelConfig[], env: Record<string, string> = {}): Promise<TestGateway> {
  // No channels given: the ones detected from `env` stand.
  const gateway = await startTestGateway(channels.length === 0 ? {} : { channels }, { env });
  closers.push(gateway.close);
  return gateway;
}

const openaiOnly = (models: string[], options?: Record<string, unknown>): ChannelConfig => ({
  name: 'openai',
  provider: 'openai',
  base_url: `${fake.url}/v1`,
  api_key: defaultOpenAIFakeApiKey,
  models,
  ...(options === undefined ? {} : { options }),
});

/** The seed documents' examples, as relays publish them. */
const seedExamples = {
  // relay example 004 (cURL): 1024x1024, quality hd.
  hdSquare: { model: 'dall-e-3', prompt: '一只在宇宙中漂浮的橙色猫咪,背景是紫色星云,写实摄影风格', size: '1024x1024', quality: 'hd', n: 1 },
  // relay example 004 (Node.js): 1792x1024, quality hd.
  hdWide: { model: 'dall-e-3', prompt: 'A futuristic cityscape at night with neon lights, cyberpunk style', size: '1792x1024', quality: 'hd', n: 1 },
  // relay example 003: 1792x1024, no quality (dall-e-3's default `standard`, style `vivid`).
  wide: {
    model: 'dall-e-3',
    size: '1792x1024',
    n: 1,
    prompt: 'A close-up depiction of a domestic cat in a relaxed state. The cat features vibrant orange fur, with striking white markings around its eyes that extend down to its soft, pink nose.',
  },
};

const lastUpstreamBody = () => fake.requests.filter((request) => request.path === '/v1/images/generations').at(-1)?.json as Record<string, unknown>;

async function downloaded(url: string): Promise<{ width?: number; height?: number; format?: string }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const metadata = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
  return { width: metadata.width, height: metadata.height, format: metadata.format };
}

describe('dall-e-3 from the seed documents, served by its successor', () => {
  it.each([
    ['a channel listing dall-e-3', ['dall-e-3']],
    ['a channel listing only the successor', ['gpt-image-2']],
  ])('on %s: the upstream gets a gpt-image-2 request it accepts; the client gets dall-e-3’s answer, translations reported', async (_label, models) => {
    const gateway = await gatewayWith([openaiOnly(models)]);
    const callsBefore = fake.imageCalls;

    const answer = await generate(gateway, seedExamples.hdWide);
    expect(answer.status).toBe(200);
    expect(fake.imageCalls - callsBefore).toBe(1);

    // What OpenAI received: a live model, its own quality name, no DALL·E-only fields.
    const sent = lastUpstreamBody();
    expect(sent).toMatchObject({ model: 'gpt-image-2', size: '1792x1024', quality: 'high', n: 1 });
    expect(sent).not.toHaveProperty('style');
    expect(sent).not.toHaveProperty('response_format');

    // dall-e-3's shape: a hosted URL (its default response_format), no base64.
    expect(answer.body.data).toHaveLength(1);
    const [item] = answer.body.data ?? [];
    expect(item?.b64_json).toBeUndefined();
    expect(item?.url?.startsWith(`${gateway.url}/`)).toBe(true);
    expect(await downloaded(item?.url ?? '')).toEqual({ width: 1792, height: 1024, format: 'png' });

    const warnings = answer.headers.get('x-imagegate-warnings') ?? '';
    expect(warnings).toContain('dall-e-3 was shut down by openai on 2026-05-12; served by its successor gpt-image-2');
    expect(warnings).toContain("quality 'hd' is not available for gpt-image-2; using 'high'");
    // The client sent no style: dall-e-3's default `vivid` is not the client's, so nothing is said of it (issue 9, item 24).
    expect(warnings).not.toContain('style');
    expect(warnings).toContain('response_format: gpt-image-2 returns base64 only; the url points at the image as the gateway hosts it');
  });

  it('takes the 1024x1024 hd example through the official SDK and the 003 example without a quality', async () => {
    const gateway = await gatewayWith([openaiOnly(['dall-e-3'])]);
    const client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
    const square = await client.images.generate({ ...seedExamples.hdSquare, model: 'dall-e-3', size: '1024x1024', quality: 'hd' });
    expect(square.data?.[0]?.url).toMatch(/^http/);
    expect(lastUpstreamBody()).toMatchObject({ model: 'gpt-image-2', size: '1024x1024', quality: 'high' });

    const answer = await generate(gateway, seedExamples.wide);
    expect(answer.status).toBe(200);
    // dall-e-3's default quality `standard` is gpt-image's `medium`.
    expect(lastUpstreamBody()).toMatchObject({ model: 'gpt-image-2', size: '1792x1024', quality: 'medium' });
    // No quality was sent: the default's translation is not reported (issue 9, item 24: warnings only about what the request carried).
    expect(answer.headers.get('x-imagegate-warnings') ?? '').not.toContain("quality 'standard'");
  });

  it('works the same for a channel detected from OPENAI_API_KEY, and /v1/models lists dall-e-3 as served', async () => {
    const gateway = await gatewayWith([], { OPENAI_API_KEY: defaultOpenAIFakeApiKey, OPENAI_BASE_URL: `${fake.url}/v1` });
    const answer = await generate(gateway, seedExamples.hdSquare);
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('openai');
    expect(lastUpstreamBody()).toMatchObject({ model: 'gpt-image-2', quality: 'high' });
    const models = await fetch(`${gateway.url}/v1/models/dall-e-3`, { headers: { authorization: `Bearer ${gateway.apiKey}` } });
    const listed = (await models.json()) as { imagegate: { provider: string; served_as: string | null; retired: { shutdown: string } | null } };
    expect(listed.imagegate).toMatchObject({ provider: 'openai', served_as: 'gpt-image-2', retired: { shutdown: '2026-05-12' } });
  });

  it('serves gpt-image-1.5 (shut down 2026-12-01) from gpt-image-2, dropping input_fidelity the successor refuses', async () => {
    const gateway = await gatewayWith([openaiOnly(['gpt-image-1.5'])]);
    const answer = await generate(gateway, { model: 'gpt-image-1.5', prompt: 'a kite', size: '1536x1024', quality: 'low' });
    expect(answer.status).toBe(200);
    expect(lastUpstreamBody()).toMatchObject({ model: 'gpt-image-2', size: '1536x1024', quality: 'low' });
    expect(answer.headers.get('x-imagegate-warnings')).toContain('gpt-image-1.5 was shut down by openai on 2026-12-01');
  });

  it('sends the old name unchanged to a channel that says its upstream still serves it', async () => {
    const relay = await startOpenAIFake({ servesRetiredModels: true });
    closers.push(relay.close);
    const gateway = await gatewayWith([{ ...openaiOnly(['dall-e-3'], { serves_retired_models: true }), base_url: `${relay.url}/v1` }]);
    const answer = await generate(gateway, seedExamples.hdSquare);
    expect(answer.status).toBe(200);
    expect(relay.requests.at(-1)?.json).toMatchObject({ model: 'dall-e-3', quality: 'hd', response_format: 'b64_json' });
    expect(answer.headers.get('x-imagegate-warnings') ?? '').not.toContain('shut down');
  });

  it('refuses a bad serves_retired_models value when the channel is built', async () => {
    await expect(startTestGateway({ channels: [openaiOnly(['dall-e-3'], { serves_retired_models: 'yes' })] })).rejects.toThrow(/serves_retired_models must be true or false/);
  });
});

describe('pricing follows the model actually used', () => {
  it('charges a dall-e-3 request served by gpt-image-2 at gpt-image-2’s token price, recorded under gpt-image-2', async () => {
    const gateway = await gatewayWith([openaiOnly(['dall-e-3'])], { IMAGEGATE_ADMIN_TOKEN: 'admin-token-0123456789' });
    const admin = (method: string, path: string, body?: unknown) =>
      fetch(`${gateway.url}/admin/v1${path}`, {
        method,
        headers: { authorization: 'Bearer admin-token-0123456789', 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as Record<string, unknown> }));
    const created = await admin('POST', '/keys', { name: 'retired', quota_usd: '5' });
    expect(created.status).toBe(201);
    const { id, secret } = created.body as { id: string; secret: string };
    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify(seedExamples.hdSquare),
    });
    expect(response.status).toBe(200);
    const usage = await admin('GET', `/usage?key=${id}`);
    const rows = usage.body['data'] as Array<Record<string, unknown>>;
    expect(rows).toHaveLength(1);
    // The fake reports usage as OpenAI does; gpt-image-2 bills image output at $30 per 1M tokens.
    expect(rows[0]).toMatchObject({ model: 'gpt-image-2', unit: 'token', unit_price: 30_000_000 });
  });
});
