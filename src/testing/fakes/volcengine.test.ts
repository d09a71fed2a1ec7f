// The Volcengine Ark fake against the documented shapes. There is no official Ark JS SDK on npm (the
// official SDKs are Python, Go and Java); the docs' own "OpenAI" example drives Ark with the OpenAI SDK
// (`base_url=https://ark.cn-beijing.volces.com/api/v3`, Ark fields in `extra_body`), so the fake is
// driven here the same way with the `openai` npm SDK, and with raw fetch for what the SDK cannot show.

import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { defaultVolcengineFakeApiKey, startVolcengineFake, type VolcengineFake } from './volcengine.js';

let fake: VolcengineFake;
let client: OpenAI;

beforeAll(async () => {
  fake = await startVolcengineFake({ endpoints: { 'ep-20261203-fake45': 'doubao-seedream-4-5-251128' } });
  client = new OpenAI({ apiKey: defaultVolcengineFakeApiKey, baseURL: `${fake.url}/api/v3`, maxRetries: 0 });
});
afterAll(async () => {
  await fake.close();
});
afterEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

async function post(body: unknown, key = defaultVolcengineFakeApiKey): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }> {
  const response = await fetch(`${fake.url}/api/v3/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, headers: response.headers };
}

const errorOf = (body: Record<string, unknown>) => body['error'] as { code: string; message: string; param: string; type: string };

describe('Volcengine Ark fake, driven by the OpenAI SDK as Ark’s docs do', () => {
  it('answers the docs’ example (2K, watermark false) with a 24-hour TOS-style URL of a jpeg, its size and token usage', async () => {
    // The docs' "OpenAI" tab: client.images.generate(model, prompt, size="2K", response_format="url", extra_body={"watermark": False}).
    const answer = await client.images.generate({
      model: 'doubao-seedream-4-5-251128',
      prompt: '充满活力的特写编辑肖像',
      size: '2K' as '1024x1024',
      response_format: 'url',
      // @ts-expect-error Ark-only field, sent as the docs' extra_body
      watermark: false,
    });
    const item = answer.data?.[0] as { url: string; size: string };
    expect(item.size).toBe('2048x2048');
    expect(item.url).toContain('X-Tos-Expires=86400');
    const image = await sharp(Buffer.from(await (await fetch(item.url)).arrayBuffer())).metadata();
    expect([image.format, image.width, image.height]).toEqual(['jpeg', 2048, 2048]);
    expect((answer as unknown as { usage: Record<string, number> }).usage).toEqual({ generated_images: 1, output_tokens: 16384, total_tokens: 16384 });
    expect(fake.jobs.at(-1)?.body['watermark']).toBe(false);
  });

  it('returns b64_json, and PNG only from 5.0-lite’s output_format', async () => {
    const answer = await client.images.generate({
      model: 'doubao-seedream-5-0-260128',
      prompt: 'a paper boat',
      size: '2560x1440' as '1024x1024',
      response_format: 'b64_json',
      // OpenAI's own output_format field; Ark reads it on 5.0-lite.
      output_format: 'png',
    });
    const image = await sharp(Buffer.from(answer.data?.[0]?.b64_json ?? '', 'base64')).metadata();
    expect([image.format, image.width, image.height]).toEqual(['png', 2560, 1440]);
    // "Only for doubao-seedream-5.0-lite".
    const refused = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', output_format: 'png' });
    expect([refused.status, errorOf(refused.body).code, errorOf(refused.body).param]).toEqual([400, 'InvalidParameter', 'output_format']);
  });

  it('maps an inference endpoint id to its model, and echoes the model id', async () => {
    const answer = await post({ model: 'ep-20261203-fake45', prompt: 'p', size: '4K' });
    expect(answer.status).toBe(200);
    expect(answer.body['model']).toBe('doubao-seedream-4-5-251128');
    expect((answer.body['data'] as { size: string }[])[0]?.size).toBe('4096x4096');
  });
});

describe('Volcengine Ark fake: documented limits', () => {
  it('enforces each model’s size range and tiers', async () => {
    // 4.0: [1280x720, 4096x4096]; 4.5: from 2560x1440; 3.0 is retired; ratio within [1/16, 16]; 1K is 4.0's only.
    expect((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', size: '1280x720' })).status).toBe(200);
    expect((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', size: '1024x720' })).status).toBe(400);
    expect((await post({ model: 'doubao-seedream-4-5-251128', prompt: 'p', size: '1280x720' })).status).toBe(400);
    expect((await post({ model: 'doubao-seedream-4-5-251128', prompt: 'p', size: '1K' })).status).toBe(400);
    expect((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', size: '16384x960' })).status).toBe(400);
    expect((await post({ model: 'doubao-seedream-5-0-260128', prompt: 'p', size: '4096x4096' })).status).toBe(400);
    const tier = await post({ model: 'doubao-seedream-5-0-260128', prompt: 'p', size: '3K' });
    expect((tier.body['data'] as { size: string }[])[0]?.size).toBe('3072x3072');
  });

  it('answers a model the account cannot call (or one deactivated upstream) with 404 InvalidEndpointOrModel.NotFound', async () => {
    for (const model of ['doubao-seedream-3-0-t2i-250415', 'doubao-seedream-9-9']) {
      const answer = await post({ model, prompt: 'p' });
      expect([answer.status, errorOf(answer.body).code, errorOf(answer.body).type]).toEqual([404, 'InvalidEndpointOrModel.NotFound', 'NotFound']);
      expect(errorOf(answer.body).message).toMatch(/Request id: 0217/);
    }
  });

  it('takes reference images as data URLs with a lower-case format, up to 14, and decodes them', async () => {
    const png = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#224466' } }).png().toBuffer();
    const dataUrl = `data:image/png;base64,${png.toString('base64')}`;
    const one = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', image: dataUrl });
    expect(one.status).toBe(200);
    expect(fake.jobs.at(-1)?.inputs).toEqual([{ width: 640, height: 480, format: 'png' }]);
    const upper = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', image: dataUrl.replace('image/png', 'image/PNG') });
    expect([upper.status, errorOf(upper.body).param]).toEqual([400, 'image']);
    const fifteen = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', image: Array.from({ length: 15 }, () => dataUrl) });
    expect(errorOf(fifteen.body).message).toContain('at most 14');
    const thin = await sharp({ create: { width: 340, height: 20, channels: 3, background: '#000' } }).png().toBuffer();
    const tooThin = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', image: `data:image/png;base64,${thin.toString('base64')}` });
    expect(errorOf(tooThin.body).message).toContain('[1/16, 16]');
  });

  it('renders a set with sequential_image_generation auto (capped by max_images and 15 with the references), one image otherwise', async () => {
    const set = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'four seasons', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 4 } });
    expect((set.body['data'] as unknown[]).length).toBe(4);
    expect((set.body['usage'] as { generated_images: number }).generated_images).toBe(4);
    const single = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'four seasons' });
    expect((single.body['data'] as unknown[]).length).toBe(1);
    expect((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 16 } })).status).toBe(400);
  });

  it('sizes a set by its rules: max_images "[1, 15]" (default 15), "input reference images + generated images ≤ 15"', async () => {
    const unbounded = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'a comic strip', sequential_image_generation: 'auto', size: '1280x720' });
    expect((unbounded.body['data'] as unknown[]).length).toBe(15);
    const zero = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 0 } });
    expect([zero.status, errorOf(zero.body).code, errorOf(zero.body).param]).toEqual([400, 'InvalidParameter', 'sequential_image_generation_options.max_images']);
    const png = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#224466' } }).png().toBuffer();
    const references = Array.from({ length: 12 }, () => `data:image/png;base64,${png.toString('base64')}`);
    const withReferences = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', image: references, sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 10 } });
    expect((withReferences.body['data'] as unknown[]).length).toBe(3);
    expect((withReferences.body['usage'] as { generated_images: number }).generated_images).toBe(3);
  });

  it('checks seed’s range and requires model and prompt', async () => {
    expect((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', seed: 2_147_483_648 })).status).toBe(400);
    expect((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', seed: 42 })).status).toBe(200);
    const missing = await post({ model: 'doubao-seedream-4-0-250828' });
    expect([missing.status, errorOf(missing.body).code, errorOf(missing.body).param]).toEqual([400, 'MissingParameter', 'prompt']);
  });
});

describe('Volcengine Ark fake: failure switches', () => {
  it('refuses a wrong key with 401 AuthenticationError (the SDK’s AuthenticationError)', async () => {
    const wrong = new OpenAI({ apiKey: 'ark-wrong', baseURL: `${fake.url}/api/v3`, maxRetries: 0 });
    await expect(wrong.images.generate({ model: 'doubao-seedream-4-0-250828', prompt: 'p' })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
  });

  it('answers out of credit with 403 AccountOverdueError, and a rate limit with 429 and retry-after', async () => {
    fake.switches.outOfFunds = true;
    const overdue = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p' });
    expect([overdue.status, errorOf(overdue.body).code, errorOf(overdue.body).type]).toEqual([403, 'AccountOverdueError', 'Forbidden']);
    delete fake.switches.outOfFunds;
    Object.assign(fake.switches, { failStatus: 429, retryAfterSeconds: 7 });
    const limited = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p' });
    expect([limited.status, errorOf(limited.body).code, limited.headers.get('retry-after')]).toEqual([429, 'RateLimitExceeded.EndpointRPMExceeded', '7']);
  });

  it('flags the prompt (400 InputTextSensitiveContentDetected), a single output (400) and one image of a set (data[].error)', async () => {
    fake.switches.moderation = 'input';
    expect(errorOf((await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p' })).body).code).toBe('InputTextSensitiveContentDetected');
    fake.switches.moderation = 'output';
    const single = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p' });
    expect([single.status, errorOf(single.body).code]).toEqual([400, 'OutputImageSensitiveContentDetected']);
    const set = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 3 } });
    const data = set.body['data'] as Record<string, unknown>[];
    expect(data.map((item) => (item['error'] as { code?: string } | undefined)?.code ?? 'image')).toEqual(['OutputImageSensitiveContentDetected', 'image', 'image']);
  });

  it('expires result URLs, truncates bodies and serves 500 InternalServiceError on request', async () => {
    fake.switches.resultUrlTtlMs = 0;
    const answer = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p' });
    const url = (answer.body['data'] as { url: string }[])[0]?.url ?? '';
    expect((await fetch(url)).status).toBe(403);
    delete fake.switches.resultUrlTtlMs;
    fake.switches.malformed = true;
    const truncated = await fetch(`${fake.url}/api/v3/images/generations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${defaultVolcengineFakeApiKey}` },
      body: JSON.stringify({ model: 'doubao-seedream-4-0-250828', prompt: 'p' }),
    });
    await expect(truncated.json()).rejects.toThrow();
    delete fake.switches.malformed;
    fake.switches.failStatus = 500;
    const failed = await post({ model: 'doubao-seedream-4-0-250828', prompt: 'p' });
    expect([failed.status, errorOf(failed.body).code]).toEqual([500, 'InternalServiceError']);
  });
});
