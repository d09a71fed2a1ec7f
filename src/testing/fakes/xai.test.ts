// The xAI fake, driven by the official `openai` SDK (xAI's API is OpenAI-compatible for generations),
// and by raw HTTP for xAI's JSON edits, which the SDK's multipart images.edit() cannot send.

import OpenAI, { BadRequestError, PermissionDeniedError, RateLimitError } from 'openai';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { useOpenAICompatibleFake } from '../provider-test-kit.js';
import { makeTestImage } from './shared.js';
import { startXaiFake } from './xai.js';

const upstream = useOpenAICompatibleFake(startXaiFake, (fake) => fake.apiKey);
const post = upstream.post;

describe('generations through the openai SDK', () => {
  it('answers n JPEG images at the aspect ratio, with mime_type, revised_prompt and the cost in ticks', async () => {
    const result = await upstream.client.images.generate({ model: 'grok-imagine-image', prompt: 'a lighthouse', n: 3, response_format: 'b64_json', aspect_ratio: '16:9' } as OpenAI.ImageGenerateParamsNonStreaming);
    expect(result.data).toHaveLength(3);
    const first = result.data?.[0] as { b64_json: string; mime_type: string; revised_prompt: string };
    expect(first.mime_type).toBe('image/jpeg');
    expect(first.revised_prompt).toContain('a lighthouse');
    const meta = await sharp(Buffer.from(first.b64_json, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['jpeg', 1360, 768]);
    expect((result as unknown as { usage: { cost_in_usd_ticks: number } }).usage.cost_in_usd_ticks).toBe(600_000_000);
  });

  it('serves URL results that expire', async () => {
    const result = await upstream.client.images.generate({ model: 'grok-imagine-image', prompt: 'x' });
    expect((await fetch(result.data?.[0]?.url ?? '')).status).toBe(200);
    upstream.fake.switches.resultUrlTtlMs = 0;
    expect((await fetch(result.data?.[0]?.url ?? '')).status).toBe(404);
  });

  it('rejects the OpenAI fields xAI does not take: size, style, quality (but on 2.0), and n above 10', async () => {
    await expect(upstream.client.images.generate({ model: 'grok-imagine-image', prompt: 'x', size: '1024x1024' })).rejects.toBeInstanceOf(BadRequestError);
    const answers = await Promise.all([
      post('generations', { model: 'grok-imagine-image', prompt: 'x', size: '1024x1024' }),
      post('generations', { model: 'grok-imagine-image', prompt: 'x', style: 'vivid' }),
      post('generations', { model: 'grok-imagine-image', prompt: 'x', quality: 'low' }),
      post('generations', { model: 'grok-imagine-image', prompt: 'x', n: 11 }),
    ]);
    expect(answers.map((answer) => [answer.status, answer.json.error])).toEqual([
      [400, 'Argument not supported: size'],
      [400, 'Argument not supported: style'],
      [400, 'Argument not supported: quality'],
      [400, 'n must be between 1 and 10'],
    ]);
    expect((await post('generations', { model: 'grok-imagine-image-2.0', prompt: 'x', quality: 'low' })).status).toBe(200);
  });

  it('answers a wrong key 400 and a missing one 401, in xAI’s error body', async () => {
    const stranger = new OpenAI({ apiKey: 'xai-wrong', baseURL: `${upstream.fake.url}/v1`, maxRetries: 0 });
    await expect(stranger.images.generate({ model: 'grok-imagine-image', prompt: 'x' })).rejects.toBeInstanceOf(BadRequestError);
    const wrong = await post('generations', { prompt: 'x' }, 'xai-wrong');
    expect(wrong.json).toEqual({ code: 'Client specified an invalid argument', error: 'Incorrect API key provided: xai-***. You can obtain an API key from https://console.x.ai.' });
    const none = await fetch(`${upstream.fake.url}/v1/images/generations`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ code: 'The request does not have valid authentication credentials', error: 'Missing bearer or basic authentication in header' });
  });

  it('renders the switches: 429 with retry-after, 403 out of credit, moderation, malformed', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 4;
    const limited = await upstream.client.images.generate({ model: 'grok-imagine-image', prompt: 'x' }).catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect((limited as RateLimitError).headers?.get('retry-after')).toBe('4');
    delete upstream.fake.switches.failStatus;
    upstream.fake.switches.outOfFunds = true;
    await expect(upstream.client.images.generate({ model: 'grok-imagine-image', prompt: 'x' })).rejects.toBeInstanceOf(PermissionDeniedError);
    delete upstream.fake.switches.outOfFunds;
    upstream.fake.switches.moderation = 'output';
    expect((await post('generations', { prompt: 'x' })).json.error).toBe('The generated image was rejected by content moderation.');
    delete upstream.fake.switches.moderation;
    upstream.fake.switches.malformed = true;
    expect((await post('generations', { prompt: 'x' })).json).toBeUndefined();
  });
});

describe('edits (JSON, as xAI requires)', () => {
  it('takes one image or several as data URLs and keeps the first one’s shape with aspect_ratio auto', async () => {
    const photo = await makeTestImage(768, 512, 'png', 2);
    const url = `data:image/png;base64,${photo.toString('base64')}`;
    const one = await post('edits', { model: 'grok-imagine-image', prompt: 'winter', image: { url }, response_format: 'b64_json' });
    expect(one.status).toBe(200);
    const meta = await sharp(Buffer.from(one.json.data[0].b64_json, 'base64')).metadata();
    expect(meta.width! / meta.height!).toBeCloseTo(1.5, 1);
    const two = await post('edits', { model: 'grok-imagine-image', prompt: '<IMAGE_0> in the style of <IMAGE_1>', images: [{ url }, { url }] });
    expect(two.status).toBe(200);
    expect(upstream.fake.calls.at(-1)?.inputs).toHaveLength(2);
    const both = await post('edits', { model: 'grok-imagine-image', prompt: 'x', image: { url }, images: [{ url }] });
    expect([both.status, both.json.error]).toEqual([400, 'image and images are mutually exclusive']);
  });

  it('refuses the multipart body the SDK’s images.edit() sends', async () => {
    const photo = await makeTestImage(256, 256, 'png', 3);
    const failure = await upstream.client.images.edit({ model: 'grok-imagine-image', prompt: 'x', image: new File([photo], 'a.png', { type: 'image/png' }) }).catch((error: unknown) => error);
    expect((failure as { status: number }).status).toBe(415);
  });
});
