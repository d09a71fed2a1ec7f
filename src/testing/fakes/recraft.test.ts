// The Recraft fake, driven by the official `openai` SDK as Recraft's own examples do
// (`OpenAI(base_url='https://external.api.recraft.ai/v1', api_key=…)`, docs/endpoints), and by raw
// HTTP for Recraft's fields and endpoints the SDK does not type.

import OpenAI, { APIError, AuthenticationError, BadRequestError, RateLimitError } from 'openai';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { useOpenAICompatibleFake } from '../provider-test-kit.js';
import { startRecraftFake } from './recraft.js';
import { makeTestImage } from './shared.js';

const upstream = useOpenAICompatibleFake(startRecraftFake, (fake) => fake.token);
const post = upstream.post;

const dataUrl = (data: Buffer, type = 'image/png') => `data:${type};base64,${data.toString('base64')}`;

describe('generations through the openai SDK', () => {
  it('answers a raster model with a URL to a real image of the asked size, and charges its API units', async () => {
    const result = await upstream.client.images.generate({ model: 'recraftv3', prompt: 'race car on a track', size: '1365x1024' as '1024x1024', n: 2 });
    expect(result.data).toHaveLength(2);
    const download = await fetch(result.data?.[0]?.url ?? '');
    const meta = await sharp(Buffer.from(await download.arrayBuffer())).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 1365, 1024]);
    expect((result as unknown as { credits: number }).credits).toBe(80);
  });

  it('answers a vector model with an SVG document, as base64 too', async () => {
    const result = await upstream.client.images.generate({ model: 'recraftv4_1_vector', prompt: 'cat on a mat', size: '1344x768' as '1024x1024', response_format: 'b64_json' });
    const svg = Buffer.from(result.data?.[0]?.b64_json ?? '', 'base64').toString('utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg" width="1344" height="768"/);
  });

  it('passes style and substyle through the SDK body and checks them per model', async () => {
    const ok = await upstream.client.images.generate({ model: 'recraftv3', prompt: 'a fox', style: 'digital_illustration' as 'vivid', substyle: 'pixel_art' } as OpenAI.ImageGenerateParamsNonStreaming);
    expect(ok.data).toHaveLength(1);
    expect(upstream.fake.calls.at(-1)?.body).toMatchObject({ style: 'digital_illustration', substyle: 'pixel_art' });
    await expect(upstream.client.images.generate({ model: 'recraftv3', prompt: 'a fox', style: 'realistic_image' as 'vivid', substyle: 'pixel_art' } as OpenAI.ImageGenerateParams)).rejects.toBeInstanceOf(BadRequestError);
    // Recraft's error bodies are not OpenAI's envelope, so the SDK keeps only the status; the words are read raw.
    expect((await post('generations', { model: 'recraftv3', prompt: 'a fox', style: 'realistic_image', substyle: 'pixel_art' })).json.message).toBe(
      'substyle pixel_art is not available for recraftv3 with style realistic_image',
    );
    expect((await post('generations', { model: 'recraftv4_1', prompt: 'a fox', style: 'digital_illustration' })).json.message).toBe('style is not supported for V4 models');
  });

  it('rejects what Recraft rejects: n above 6, a size of another family, a V3 prompt over 1000 characters, unknown fields', async () => {
    await expect(upstream.client.images.generate({ model: 'recraftv3', prompt: 'x', n: 7 })).rejects.toBeInstanceOf(BadRequestError);
    const messages = await Promise.all([
      post('generations', { model: 'recraftv3', prompt: 'x', n: 7 }),
      post('generations', { model: 'recraftv4_1', prompt: 'x', size: '1365x1024' }),
      post('generations', { model: 'recraftv3', prompt: 'x'.repeat(1001) }),
      post('generations', { model: 'recraftv3', prompt: 'x', quality: 'hd' }),
    ]);
    expect(messages.map((answer) => [answer.status, answer.json.message])).toEqual([
      [400, 'n must be between 1 and 6'],
      [400, 'size 1365x1024 is not supported by recraftv4_1'],
      [400, 'prompt is too long: maximum length is 1000 characters for recraftv3'],
      [400, 'unknown field "quality"'],
    ]);
  });

  it('answers a wrong token 401 text/plain, as Recraft documents', async () => {
    const stranger = new OpenAI({ apiKey: 'wrong', baseURL: `${upstream.fake.url}/v1`, maxRetries: 0 });
    await expect(stranger.images.generate({ model: 'recraftv3', prompt: 'x' })).rejects.toBeInstanceOf(AuthenticationError);
    const raw = await post('generations', { prompt: 'x' }, 'wrong');
    expect([raw.status, raw.text]).toEqual([401, 'request unauthorized']);
  });

  it('renders the failure switches: rate limit with retry-after, out of credit, moderation, malformed, expired result URL', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 7;
    const limited = await upstream.client.images.generate({ model: 'recraftv3', prompt: 'x' }).catch((error: unknown) => error);
    expect(limited).toBeInstanceOf(RateLimitError);
    expect((limited as RateLimitError).headers?.get('retry-after')).toBe('7');
    delete upstream.fake.switches.failStatus;

    upstream.fake.switches.outOfFunds = true;
    const broke = await upstream.client.images.generate({ model: 'recraftv3', prompt: 'x' }).catch((error: unknown) => error);
    expect((broke as APIError).status).toBe(402);
    delete upstream.fake.switches.outOfFunds;

    upstream.fake.switches.moderation = 'output';
    await expect(upstream.client.images.generate({ model: 'recraftv3', prompt: 'x' })).rejects.toBeInstanceOf(BadRequestError);
    expect((await post('generations', { model: 'recraftv3', prompt: 'x' })).json).toEqual({ code: 'nsfw_content', message: 'The generated image was blocked as NSFW content' });
    delete upstream.fake.switches.moderation;

    upstream.fake.switches.malformed = true;
    const malformed = await post('generations', { model: 'recraftv3', prompt: 'x' });
    expect(malformed.status).toBe(200);
    expect(malformed.json).toBeUndefined();
    delete upstream.fake.switches.malformed;

    upstream.fake.switches.resultUrlTtlMs = 0;
    const expired = await upstream.client.images.generate({ model: 'recraftv3', prompt: 'x' });
    expect((await fetch(expired.data?.[0]?.url ?? '')).status).toBe(404);
  });
});

describe('edits (raw HTTP: Recraft’s own endpoints)', () => {
  it('imageToImage needs strength and answers at the input size', async () => {
    const photo = await makeTestImage(640, 480, 'png', 3);
    const missing = await post('imageToImage', { model: 'recraftv3', prompt: 'winter', image_url: dataUrl(photo) });
    expect(missing.status).toBe(400);
    expect(missing.json.message).toMatch(/strength is required/);
    const done = await post('imageToImage', { model: 'recraftv3', prompt: 'winter', image_url: dataUrl(photo), strength: 0.4, response_format: 'b64_json', image_format: 'webp' });
    expect(done.status).toBe(200);
    const meta = await sharp(Buffer.from(done.json.data[0].b64_json, 'base64')).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['webp', 640, 480]);
  });

  it('inpaint needs a mask of the image’s size; the SDK can post it as multipart too', async () => {
    const photo = await makeTestImage(512, 512, 'png', 4);
    const wrongMask = await makeTestImage(256, 256, 'png', 5);
    const refused = await post('inpaint', { model: 'recraftv3', prompt: 'a hat', image_url: dataUrl(photo), mask_url: dataUrl(wrongMask) });
    expect(refused.json.message).toMatch(/same size/);
    const mask = await sharp({ create: { width: 512, height: 512, channels: 3, background: '#000' } }).toColourspace('b-w').png().toBuffer();
    const form = new FormData();
    form.set('model', 'recraftv3');
    form.set('prompt', 'a hat');
    form.set('image', new Blob([photo], { type: 'image/png' }), 'photo.png');
    form.set('mask', new Blob([mask], { type: 'image/png' }), 'mask.png');
    const answer = await upstream.client.post<{ data: Array<{ url: string }> }>('/images/inpaint', { body: form });
    expect(answer.data).toHaveLength(1);
    expect(upstream.fake.calls.at(-1)).toMatchObject({ operation: 'inpaint', image: { width: 512, height: 512 }, mask: { width: 512, height: 512 } });
  });

  it('refuses input images below 256 px a side', async () => {
    const tiny = await makeTestImage(128, 128, 'png', 6);
    const refused = await post('imageToImage', { model: 'recraftv3', prompt: 'x', image_url: dataUrl(tiny), strength: 0.5 });
    expect([refused.status, refused.json.message]).toEqual([400, 'image_url: the image must be up to 16 MP with sides between 256 and 4096 px']);
  });
});
