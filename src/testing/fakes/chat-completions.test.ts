// Fidelity of the chat-completions fake: OpenRouter's official SDK (@openrouter/sdk, which validates every
// answer against its zod schemas) and the openai SDK's chat.completions, pointed at it, get what the real
// APIs give: images, usage with cost, and each documented error class.

import { OpenRouter } from '@openrouter/sdk';
import * as openRouterErrors from '@openrouter/sdk/models/errors';
import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { chatCompletionsFakeApiKey, startChatCompletionsFake, type ChatCompletionsFake } from './chat-completions.js';

let fake: ChatCompletionsFake;
let openRouter: OpenRouter;
let openai: OpenAI;

beforeAll(async () => {
  fake = await startChatCompletionsFake();
  openRouter = new OpenRouter({ apiKey: chatCompletionsFakeApiKey, serverURL: `${fake.url}/api/v1`, retryConfig: { strategy: 'none' } });
  openai = new OpenAI({ apiKey: chatCompletionsFakeApiKey, baseURL: `${fake.url}/api/v1`, maxRetries: 0 });
});
afterAll(() => fake.close());
afterEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

async function sizeOfDataUrl(url: string): Promise<[number | undefined, number | undefined, string | undefined]> {
  expect(url.startsWith('data:image/png;base64,')).toBe(true);
  const metadata = await sharp(Buffer.from(url.slice(url.indexOf(',') + 1), 'base64')).metadata();
  return [metadata.width, metadata.height, metadata.format];
}

describe('the OpenRouter SDK against the fake', () => {
  it('gets message.images as a data URL at the asked aspect ratio and Gemini 3 tier, with usage and cost', async () => {
    const result = await openRouter.chat.send({
      chatRequest: {
        model: 'google/gemini-3-pro-image-preview',
        messages: [{ role: 'user', content: 'a lighthouse at dawn' }],
        modalities: ['image', 'text'],
        imageConfig: { aspect_ratio: '16:9', image_size: '2K' },
        stream: false,
      },
    });
    if (!('choices' in result)) throw new Error('expected a ChatResult, not a stream');
    const image = result.choices[0]?.message.images?.[0];
    expect(await sizeOfDataUrl(image?.imageUrl.url ?? '')).toEqual([2688, 1536, 'png']);
    expect(result.choices[0]?.finishReason).toBe('stop');
    expect(result.usage?.completionTokens).toBe(1120);
    expect(result.usage?.cost).toBeCloseTo(0.1344, 3);
    const sent = fake.requests.at(-1);
    expect(sent?.path).toBe('/api/v1/chat/completions');
    expect(sent?.headers['authorization']).toBe(`Bearer ${chatCompletionsFakeApiKey}`);
  });

  it('reads the documented error classes: 401, 402, 403 moderation with its metadata, 429', async () => {
    const send = () => openRouter.chat.send({ chatRequest: { model: 'google/gemini-2.5-flash-image', messages: [{ role: 'user', content: 'a violent scene' }], modalities: ['image', 'text'] } });

    fake.switches.outOfFunds = true;
    const payment = await send().catch((error: unknown) => error);
    expect(payment).toBeInstanceOf(openRouterErrors.PaymentRequiredResponseError);
    expect((payment as openRouterErrors.PaymentRequiredResponseError).error.code).toBe(402);
    delete fake.switches.outOfFunds;

    fake.switches.moderation = 'input';
    const flagged = await send().catch((error: unknown) => error);
    expect(flagged).toBeInstanceOf(openRouterErrors.ForbiddenResponseError);
    expect((flagged as openRouterErrors.ForbiddenResponseError).error.metadata).toMatchObject({ reasons: ['violence'], flagged_input: 'a violent scene' });
    delete fake.switches.moderation;

    fake.switches.failStatus = 429;
    fake.switches.retryAfterSeconds = 7;
    const limited = await send().catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(openRouterErrors.TooManyRequestsResponseError);
    expect((limited as openRouterErrors.TooManyRequestsResponseError).headers.get('retry-after')).toBe('7');
    delete fake.switches.failStatus;

    const wrongKey = new OpenRouter({ apiKey: 'sk-or-v1-wrong', serverURL: `${fake.url}/api/v1`, retryConfig: { strategy: 'none' } });
    const unauthorised = await wrongKey.chat.send({ chatRequest: { model: 'google/gemini-2.5-flash-image', messages: [{ role: 'user', content: 'x' }] } }).catch((error: unknown) => error);
    expect(unauthorised).toBeInstanceOf(openRouterErrors.UnauthorizedResponseError);
  });

  it('answers output moderation as a 200 with finish_reason content_filter and no image', async () => {
    fake.switches.moderation = 'output';
    const result = await openRouter.chat.send({ chatRequest: { model: 'google/gemini-2.5-flash-image', messages: [{ role: 'user', content: 'x' }], modalities: ['image', 'text'] } });
    if (!('choices' in result)) throw new Error('expected a ChatResult');
    expect(result.choices[0]?.finishReason).toBe('content_filter');
    expect(result.choices[0]?.message.images).toBeUndefined();
  });
});

describe('the openai SDK chat.completions against the fake', () => {
  it('edits: takes the prompt then image_url parts as data URLs, and draws one image', async () => {
    const input = await sharp({ create: { width: 96, height: 64, channels: 3, background: '#224488' } }).jpeg().toBuffer();
    const completion = await openai.chat.completions.create({
      model: 'google/gemini-2.5-flash-image',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'make it sunset' }, { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${input.toString('base64')}` } }] }],
      // @ts-expect-error: OpenRouter's fields, not in openai's types
      modalities: ['image', 'text'],
      image_config: { aspect_ratio: '3:2' },
    });
    const message = completion.choices[0]?.message as unknown as { images?: { image_url: { url: string } }[] };
    expect(await sizeOfDataUrl(message.images?.[0]?.image_url.url ?? '')).toEqual([1248, 832, 'png']);
    expect(fake.jobs.at(-1)?.inputs).toEqual([{ width: 96, height: 64, format: 'jpeg' }]);
    expect(fake.jobs.at(-1)?.prompt).toBe('make it sunset');
  });

  it('answers text only when modalities does not ask for an image, and refuses an aspect ratio outside the list', async () => {
    const text = await openai.chat.completions.create({ model: 'google/gemini-2.5-flash-image', messages: [{ role: 'user', content: 'a cat' }] });
    expect(text.choices[0]?.message.content).toContain('only text');
    const refused = await openai.chat.completions
      // @ts-expect-error: OpenRouter's fields
      .create({ model: 'google/gemini-2.5-flash-image', messages: [{ role: 'user', content: 'a cat' }], modalities: ['image'], image_config: { aspect_ratio: '7:3' } })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OpenAI.BadRequestError);
  });

  it('speaks new-api’s markdown data image in a string content when started as a relay', async () => {
    const relay = await startChatCompletionsFake({ flavour: 'new-api' });
    try {
      const client = new OpenAI({ apiKey: chatCompletionsFakeApiKey, baseURL: `${relay.url}/v1`, maxRetries: 0 });
      // @ts-expect-error: modalities is OpenRouter's and new-api's field
      const completion = await client.chat.completions.create({ model: 'gemini-2.5-flash-image', messages: [{ role: 'user', content: 'a cat' }], modalities: ['image', 'text'] });
      const content = completion.choices[0]?.message.content ?? '';
      const match = /!\[image\]\((data:image\/png;base64,[^)]+)\)/.exec(content);
      expect(await sizeOfDataUrl(match?.[1] ?? '')).toEqual([1024, 1024, 'png']);
      expect(completion.usage?.completion_tokens).toBe(1290);
    } finally {
      await relay.close();
    }
  });
});
