// Chat-completions image models end to end: OpenAI Images API requests through the gateway over HTTP to
// an OpenRouter fake (message.images) and a new-api style relay fake (markdown data images), both
// speaking `POST …/chat/completions` with `modalities: ["image", "text"]`.

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { chatCompletionsFakeApiKey, startChatCompletionsFake, type ChatCompletionsFake } from '../../src/testing/fakes/chat-completions.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { decode, edit, generate, imagesOf, inputImage } from './providers-support.js';
import { call, waitForTask } from './task-helpers.js';

let openRouter: ChatCompletionsFake;
let relay: ChatCompletionsFake;
let gateway: TestGateway;

beforeAll(async () => {
  openRouter = await startChatCompletionsFake();
  relay = await startChatCompletionsFake({ flavour: 'new-api' });
  const channels: ChannelConfig[] = [
    {
      name: 'openrouter',
      provider: 'openrouter',
      base_url: `${openRouter.url}/api/v1`,
      api_key: chatCompletionsFakeApiKey,
      priority: 1,
      models: ['gemini-2.5-flash-image', 'gemini-3-pro-image-preview'],
      model_map: { 'gemini-2.5-flash-image': 'google/gemini-2.5-flash-image', 'gemini-3-pro-image-preview': 'google/gemini-3-pro-image-preview' },
    },
    // A relay that serves Google's names: the failover when OpenRouter is out of credit.
    { name: 'relay', provider: 'chat-completions', base_url: `${relay.url}/v1`, api_key: chatCompletionsFakeApiKey, priority: 0, models: ['gemini-2.5-flash-image', 'gemini-3-pro-image'] },
  ];
  gateway = await startTestGateway({ channels });
});
afterAll(async () => {
  await gateway.close();
  await openRouter.close();
  await relay.close();
});
beforeEach(() => {
  for (const fake of [openRouter, relay]) for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

/** What the test key has spent so far, in credits ($1 = 1,000,000), as a client reads it from /v1/usage. */
async function spent(): Promise<number> {
  const response = await fetch(`${gateway.url}/v1/usage`, { headers: { authorization: `Bearer ${gateway.apiKey}` } });
  const body = (await response.json()) as { total: { amount: number } };
  return body.total.amount;
}

/** The pricing detail of the newest usage row (what the admin API's /usage shows an operator). */
async function lastUsageDetail(): Promise<Record<string, unknown>> {
  const [row] = await gateway.gateway.billing.listUsage({ limit: 1 });
  return row?.detail ?? {};
}

const lastChat = (fake: ChatCompletionsFake) => [...fake.requests].reverse().find((request) => request.path.endsWith('/chat/completions'))?.json as Record<string, unknown> | undefined;

describe('chat-completions image models through the gateway', () => {
  it('generates on OpenRouter under its model name, at the asked ratio, with the tokens as usage, charged at the catalog price', async () => {
    const before = await spent();
    const answer = await generate(gateway, { model: 'gemini-2.5-flash-image', prompt: 'a watercolor fox', aspect_ratio: '16:9' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('openrouter');
    const [image] = await imagesOf(gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['png', 1344, 768]);
    expect(lastChat(openRouter)).toMatchObject({ model: 'google/gemini-2.5-flash-image', modalities: ['image', 'text'], image_config: { aspect_ratio: '16:9' } });
    expect(answer.body).toMatchObject({ usage: { output_tokens: 1290 } });
    expect(answer.text).not.toContain(chatCompletionsFakeApiKey);
    // gemini-2.5-flash-image: $0.039 per image (catalog/prices.yaml).
    expect((await spent()) - before).toBe(39_000);
    // OpenRouter's own price, beside ours in the usage row: 1290 image tokens × $30/1M + 4 prompt tokens × $0.30/1M.
    expect((await lastUsageDetail())['upstream_cost_usd']).toBe(0.038701);
  });

  it('makes n images with one chat call each (chat completions have no n)', async () => {
    const before = openRouter.jobs.length;
    const answer = await generate(gateway, { model: 'gemini-2.5-flash-image', prompt: 'three pears', n: 3, response_format: 'b64_json' });
    expect(answer.status).toBe(200);
    expect(answer.body.data).toHaveLength(3);
    expect(openRouter.jobs.length - before).toBe(3);
    // The three calls' usage.cost summed (each 0.038701 as OpenRouter rounds it).
    expect((await lastUsageDetail())['upstream_cost_usd']).toBe(0.116103);
  });

  it('edits with Gemini 3 Pro Image: the upload goes as an image_url data URL, the size as the 2K tier', async () => {
    const photo = await inputImage(640, 480);
    const answer = await edit(gateway, { model: 'gemini-3-pro-image-preview', prompt: 'make it winter', size: '2048x2048' }, [photo]);
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(gateway, answer);
    expect([image?.width, image?.height]).toEqual([2048, 2048]);
    const job = openRouter.jobs.at(-1);
    expect(job?.model).toBe('google/gemini-3-pro-image-preview');
    expect(job?.inputs).toEqual([{ width: 640, height: 480, format: 'png' }]);
    expect(lastChat(openRouter)?.['image_config']).toEqual({ aspect_ratio: '1:1', image_size: '2K' });
  });

  it('runs as an async task (?async=true) and ends succeeded with the image', async () => {
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', { key: gateway.apiKey, json: { model: 'gemini-2.5-flash-image', prompt: 'a lighthouse', aspect_ratio: '3:2' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(gateway.url, gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const b64 = task.result?.data?.[0]?.b64_json as string | undefined;
    const url = task.result?.data?.[0]?.url as string | undefined;
    const bytes = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(await (await fetch(String(url))).arrayBuffer());
    const image = await decode(bytes);
    expect([image.width, image.height]).toEqual([1248, 832]);
  });

  it('answers flagged input and a filtered image with content_policy_violation, and tries no other channel', async () => {
    const relayCalls = relay.requests.length;
    const before = await spent();
    openRouter.switches.moderation = 'input';
    const input = await generate(gateway, { model: 'gemini-2.5-flash-image', prompt: 'something flagged' });
    expect(input.status).toBe(400);
    expect(input.body.error).toMatchObject({ code: 'content_policy_violation', moderation_details: { moderation_stage: 'input', categories: ['violence'] } });

    openRouter.switches.moderation = 'output';
    const output = await generate(gateway, { model: 'gemini-2.5-flash-image', prompt: 'something filtered' });
    expect(output.status).toBe(400);
    expect(output.body.error).toMatchObject({ code: 'content_policy_violation', moderation_details: { moderation_stage: 'output' } });
    expect(relay.requests.length).toBe(relayCalls);
    expect(await spent()).toBe(before);
  });

  it('answers a reply without an image as a 502 saying so, and charges nothing', async () => {
    const before = await spent();
    openRouter.switches.maxImages = 0;
    const answer = await generate(gateway, { model: 'gemini-2.5-flash-image', prompt: 'a cat' });
    expect(answer.status).toBe(502);
    expect(answer.body.error).toMatchObject({ code: 'upstream_error', type: 'server_error' });
    expect(answer.body.error?.message).toContain('answered without an image');
    expect(await spent()).toBe(before);
  });

  it('sends gemini-3-pro-image to a relay under Google\'s GA name, with its 2K tier, charged at the catalog price', async () => {
    const before = await spent();
    const answer = await generate(gateway, { model: 'gemini-3-pro-image', prompt: 'a tide chart', size: '2752x1536' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('chat-completions');
    const [image] = await imagesOf(gateway, answer);
    // The relay's 16:9 at 2K: twice OpenRouter's 1K table (1344x768).
    expect([image?.width, image?.height]).toEqual([2688, 1536]);
    expect(lastChat(relay)).toMatchObject({ model: 'gemini-3-pro-image', image_config: { aspect_ratio: '16:9', image_size: '2K' } });
    // gemini-3-pro-image: $0.134 per 1K or 2K image (catalog/prices.yaml).
    expect((await spent()) - before).toBe(134_000);
  });

  // Last: the OpenRouter channel is disabled once it is out of credit.
  it('fails over to the relay when OpenRouter answers 402, and reads the relay’s markdown image', async () => {
    openRouter.switches.outOfFunds = true;
    const answer = await generate(gateway, { model: 'gemini-2.5-flash-image', prompt: 'a red kite', aspect_ratio: '2:3' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('chat-completions');
    const [image] = await imagesOf(gateway, answer);
    expect([image?.width, image?.height]).toEqual([832, 1248]);
    expect(lastChat(relay)).toMatchObject({ model: 'gemini-2.5-flash-image', image_config: { aspect_ratio: '2:3' } });
    expect(gateway.gateway.router.get('openrouter')).toMatchObject({ enabled: false, disabled_reason: 'upstream_out_of_funds' });
  });
});

describe('an openrouter channel detected from OPENROUTER_API_KEY', () => {
  it('serves the Gemini image models under OpenRouter\'s names, and /v1/models says so', async () => {
    const fake = await startChatCompletionsFake();
    const detected = await startTestGateway({}, { env: { OPENROUTER_API_KEY: chatCompletionsFakeApiKey, OPENROUTER_BASE_URL: `${fake.url}/api/v1` } });
    try {
      const response = await fetch(`${detected.url}/v1/models`, { headers: { authorization: `Bearer ${detected.apiKey}` } });
      const listed = ((await response.json()) as { data: { id: string; imagegate: { provider: string; channel: string } }[] }).data;
      const served = Object.fromEntries(listed.map((entry) => [entry.id, `${entry.imagegate.provider}/${entry.imagegate.channel}`]));
      expect(served).toMatchObject({ 'gemini-2.5-flash-image': 'openrouter/openrouter', 'gemini-3-pro-image-preview': 'openrouter/openrouter' });

      const answer = await generate(detected, { model: 'nano-banana-pro', prompt: 'a paper boat', size: '1024x1024' });
      expect(answer.status).toBe(200);
      expect(answer.headers.get('x-imagegate-provider')).toBe('openrouter');
      expect(lastChat(fake)).toMatchObject({ model: 'google/gemini-3-pro-image-preview', image_config: { aspect_ratio: '1:1', image_size: '1K' } });
    } finally {
      await detected.close();
      await fake.close();
    }
  });
});
