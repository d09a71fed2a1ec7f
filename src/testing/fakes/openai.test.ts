// The OpenAI fake, driven by the official `openai` SDK: if the SDK is happy, clients of the gateway will be.

import OpenAI, { AuthenticationError, BadRequestError, NotFoundError, RateLimitError, toFile } from 'openai';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeTestImage } from './shared.js';
import { startOpenAIFake, type OpenAIFake } from './openai.js';

let fake: OpenAIFake;
let client: OpenAI;

beforeAll(async () => {
  // As a relay that still serves the retired models, so their wire rules stay tested; OpenAI's own
  // refusal of them is tested below with a fake in its default mode.
  fake = await startOpenAIFake({ apiKey: 'sk-abcdefghijklmnopxyz', servesRetiredModels: true });
  client = new OpenAI({ apiKey: fake.apiKey, baseURL: `${fake.url}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await fake.close();
});

afterEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

async function pngFile(name: string, width = 64, height = 64, seed = 1) {
  return toFile(await makeTestImage(width, height, 'png', seed), name, { type: 'image/png' });
}

describe('generations', () => {
  it('returns a URL for DALL·E by default that serves a real image of the asked size, with a revised prompt for dall-e-3', async () => {
    const result = await client.images.generate({ model: 'dall-e-3', prompt: 'a lighthouse at dusk', size: '1792x1024' });
    const image = result.data?.[0];
    expect(image?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/files\//);
    expect(image?.revised_prompt).toContain('a lighthouse at dusk');
    const download = await fetch(image?.url ?? '');
    expect(download.status).toBe(200);
    const metadata = await sharp(Buffer.from(await download.arrayBuffer())).metadata();
    expect([metadata.width, metadata.height]).toEqual([1792, 1024]);
  });

  it('returns b64_json when asked, and always for gpt-image models, with usage', async () => {
    const dalle = await client.images.generate({ model: 'dall-e-2', prompt: 'otter', n: 2, size: '256x256', response_format: 'b64_json' });
    expect(dalle.data).toHaveLength(2);
    const first = await sharp(Buffer.from(dalle.data?.[0]?.b64_json ?? '', 'base64')).metadata();
    expect([first.format, first.width, first.height]).toEqual(['png', 256, 256]);

    const gpt = await client.images.generate({ model: 'gpt-image-1', prompt: 'otter', size: '1536x1024', output_format: 'webp', quality: 'low' });
    const bytes = Buffer.from(gpt.data?.[0]?.b64_json ?? '', 'base64');
    const metadata = await sharp(bytes).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['webp', 1536, 1024]);
    expect(gpt.usage?.output_tokens).toBeGreaterThan(0);
    expect(gpt.usage?.input_tokens_details.text_tokens).toBeGreaterThan(0);
    expect(gpt.output_format).toBe('webp');
    expect(gpt.size).toBe('1536x1024');
  });

  it('result URLs stop working after resultUrlTtlMs', async () => {
    fake.switches.resultUrlTtlMs = 0;
    const result = await client.images.generate({ model: 'dall-e-2', prompt: 'otter', size: '256x256' });
    const download = await fetch(result.data?.[0]?.url ?? '');
    expect(download.status).toBe(403);
    expect(await download.text()).toContain('AuthenticationFailed');
  });

  it('returns fewer images than asked when maxImages is set', async () => {
    fake.switches.maxImages = 1;
    const result = await client.images.generate({ model: 'gpt-image-1', prompt: 'otter', n: 3, size: '1024x1024', quality: 'low' });
    expect(result.data).toHaveLength(1);
  });

  it('streams partial and completed events for gpt-image models', async () => {
    const stream = await client.images.generate({ model: 'gpt-image-1.5', prompt: 'otter', size: '1024x1024', stream: true, partial_images: 2 });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual(['image_generation.partial_image', 'image_generation.partial_image', 'image_generation.completed']);
  });

  it('streams blurred previews that differ from the final image, each image after the other', async () => {
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'otter', n: 2, size: '1024x1024', quality: 'low', stream: true, partial_images: 1, output_format: 'webp' });
    const events: Array<{ type: string; b64_json: string }> = [];
    for await (const event of stream) events.push(event);
    expect(events.map((event) => event.type)).toEqual([
      'image_generation.partial_image',
      'image_generation.completed',
      'image_generation.partial_image',
      'image_generation.completed',
    ]);
    expect(events[0]?.b64_json).not.toBe(events[1]?.b64_json);
    const preview = await sharp(Buffer.from(events[0]?.b64_json ?? '', 'base64')).metadata();
    expect([preview.format, preview.width, preview.height]).toEqual(['webp', 1024, 1024]);
  });

  it('flags a stream on output with an error event after the partials, which the SDK raises', async () => {
    fake.switches.moderation = 'output';
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'otter', size: '1024x1024', quality: 'low', stream: true, partial_images: 2 });
    const types: string[] = [];
    const error = await (async () => {
      for await (const event of stream) types.push(event.type);
    })().catch((caught: unknown) => caught);
    expect(types).toEqual(['image_generation.partial_image', 'image_generation.partial_image']);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('moderation_blocked');
  });
});

describe('edits and variations', () => {
  it('accepts a single image as `image` and an array as `image[]`, with a mask', async () => {
    const single = await client.images.edit({ model: 'gpt-image-1', prompt: 'add a hat', image: await pngFile('a.png'), size: '1024x1024', quality: 'low' });
    expect(single.data).toHaveLength(1);
    const singleRequest = fake.requests.at(-1);
    expect(singleRequest?.body.toString('latin1')).toContain('name="image"; filename="a.png"');

    const several = await client.images.edit({
      model: 'gpt-image-1',
      prompt: 'combine them',
      image: [await pngFile('a.png', 64, 64, 1), await pngFile('b.png', 64, 64, 2)],
      mask: await pngFile('mask.png', 64, 64, 3),
      size: '1024x1536',
      quality: 'low',
    });
    const bytes = Buffer.from(several.data?.[0]?.b64_json ?? '', 'base64');
    const metadata = await sharp(bytes).metadata();
    expect([metadata.width, metadata.height]).toEqual([1024, 1536]);
    const body = fake.requests.at(-1)?.body.toString('latin1') ?? '';
    expect(body.match(/name="image\[\]"/g)).toHaveLength(2);
    expect(body).toContain('name="mask"');
    expect(several.usage?.input_tokens_details.image_tokens).toBeGreaterThan(0);
  });

  it('rejects a mask whose size differs from the image', async () => {
    const error = await client.images
      .edit({ model: 'gpt-image-1', prompt: 'x', image: await pngFile('a.png', 64, 64), mask: await pngFile('m.png', 32, 32) })
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).param).toBe('mask');
  });

  it('makes variations of a square PNG for dall-e-2', async () => {
    const result = await client.images.createVariation({ model: 'dall-e-2', image: await pngFile('v.png'), n: 2, size: '512x512', response_format: 'b64_json' });
    expect(result.data).toHaveLength(2);
    const metadata = await sharp(Buffer.from(result.data?.[1]?.b64_json ?? '', 'base64')).metadata();
    expect([metadata.width, metadata.height]).toEqual([512, 512]);
  });
});

describe('rules of today\'s API (issue 10)', () => {
  it.each(['dall-e-3', 'dall-e-2', 'gpt-image-1.5', 'gpt-image-1-mini', 'chatgpt-image-latest'])(
    'OpenAI itself answers %s with 404 model_not_found: the model is shut down',
    async (model) => {
      const openai = await startOpenAIFake({ apiKey: fake.apiKey });
      try {
        const direct = new OpenAI({ apiKey: openai.apiKey, baseURL: `${openai.url}/v1`, maxRetries: 0 });
        const error = await direct.images.generate({ model, prompt: 'x' }).catch((caught: unknown) => caught);
        expect(error).toBeInstanceOf(NotFoundError);
        expect(error).toMatchObject({ status: 404, code: 'model_not_found' });
        expect((error as NotFoundError).message).toContain(`The model \`${model}\` has been deprecated`);
        expect(openai.imageCalls).toBe(0);
      } finally {
        await openai.close();
      }
    },
  );

  it('refuses moderation on edits (not in ImageEditParams) but takes it on generations', async () => {
    const edit = await client.images
      // @ts-expect-error -- openai-node's ImageEditParams has no `moderation`; sent anyway, as a raw client would.
      .edit({ model: 'gpt-image-1', prompt: 'x', image: await pngFile('a.png'), moderation: 'low' })
      .catch((caught: unknown) => caught);
    expect(edit).toBeInstanceOf(BadRequestError);
    expect(edit).toMatchObject({ code: 'unknown_parameter', param: 'moderation' });
    const generated = await client.images.generate({ model: 'gpt-image-1', prompt: 'x', moderation: 'low', quality: 'low', size: '1024x1024' });
    expect(generated.data).toHaveLength(1);
  });

  it.each(['gpt-image-2', 'gpt-image-1-mini'])('answers input_fidelity on a %s edit with 400 invalid_input_fidelity_model', async (model) => {
    const error = await client.images.edit({ model, prompt: 'x', image: await pngFile('a.png'), input_fidelity: 'high' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ code: 'invalid_input_fidelity_model', param: 'input_fidelity' });
    expect((error as BadRequestError).message).toContain(`The model '${model}' does not support the 'input_fidelity' parameter`);
  });
});

describe('errors the SDK understands', () => {
  it('answers an account without credit with 429 insufficient_quota and no retry-after, which the SDK raises as RateLimitError', async () => {
    fake.switches.outOfFunds = true;
    const error = await client.images.generate({ model: 'gpt-image-2', prompt: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
    expect(error).toMatchObject({ status: 429, code: 'insufficient_quota', type: 'insufficient_quota' });
    expect((error as RateLimitError).headers.get('retry-after')).toBeNull();
  });

  it('raises AuthenticationError with a masked key for a wrong key', async () => {
    const wrong = new OpenAI({ apiKey: 'sk-wrongkey1234567yz', baseURL: `${fake.url}/v1`, maxRetries: 0 });
    const error = await wrong.images.generate({ model: 'dall-e-2', prompt: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AuthenticationError);
    expect((error as AuthenticationError).code).toBe('invalid_api_key');
    expect((error as AuthenticationError).message).toContain('sk-wr***yz');
    expect((error as AuthenticationError).message).not.toContain('sk-wrongkey1234567yz');
  });

  it.each([
    [{ model: 'gpt-image-1', prompt: 'x', response_format: 'b64_json' as const }, 'unknown_parameter', 'response_format'],
    [{ model: 'dall-e-3', prompt: 'x', n: 2 }, 'invalid_value', 'n'],
    [{ model: 'gpt-image-1', prompt: 'x', size: '512x512' as const }, 'invalid_value', 'size'],
    [{ model: 'gpt-image-1', prompt: 'x', quality: 'hd' as const }, 'invalid_value', 'quality'],
    [{ model: 'gpt-image-2', prompt: 'x', size: '1000x1000' as const }, 'invalid_value', 'size'],
    [{ model: 'gpt-image-1' } as unknown as { model: string; prompt: string }, 'missing_required_parameter', 'prompt'],
  ])('raises BadRequestError for %j', async (body, code, param) => {
    const error = await client.images.generate(body).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).code).toBe(code);
    expect((error as BadRequestError).param).toBe(param);
  });

  it('raises RateLimitError for the 429 switch, with retry-after', async () => {
    fake.switches.failStatus = 429;
    const error = await client.images.generate({ model: 'dall-e-2', prompt: 'x' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RateLimitError);
    expect((error as RateLimitError).code).toBe('rate_limit_exceeded');
    expect((error as RateLimitError).headers.get('retry-after')).toBe('1');
  });

  it('renders moderation the way each model family does', async () => {
    fake.switches.moderation = 'output';
    const gpt = await client.images.generate({ model: 'gpt-image-1', prompt: 'x' }).catch((caught: unknown) => caught);
    expect((gpt as BadRequestError).code).toBe('moderation_blocked');
    expect((gpt as BadRequestError).type).toBe('image_generation_user_error');
    expect((gpt as BadRequestError).error).toMatchObject({ moderation_details: { moderation_stage: 'output' } });
    fake.switches.moderation = 'input';
    const dalle = await client.images.generate({ model: 'dall-e-3', prompt: 'x' }).catch((caught: unknown) => caught);
    expect((dalle as BadRequestError).code).toBe('content_policy_violation');
  });

  it('answers with truncated JSON when malformed', async () => {
    fake.switches.malformed = true;
    const response = await fetch(`${fake.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${fake.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-2', prompt: 'x', size: '256x256' }),
    });
    expect(response.status).toBe(200);
    await expect(response.clone().json()).rejects.toThrow();
  });
});

describe('Azure deployment routes', () => {
  it('authenticates with api-key and requires api-version', async () => {
    const path = `${fake.url}/openai/deployments/gpt-image-1/images/generations`;
    const body = JSON.stringify({ prompt: 'otter', size: '1024x1024', quality: 'low' });
    const ok = await fetch(`${path}?api-version=2025-04-01-preview`, { method: 'POST', headers: { 'api-key': fake.apiKey, 'content-type': 'application/json' }, body });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('apim-request-id')).toBeTruthy();
    const json = (await ok.json()) as { data: { b64_json: string }[] };
    expect(json.data[0]?.b64_json.length).toBeGreaterThan(100);

    const wrongKey = await fetch(`${path}?api-version=2025-04-01-preview`, { method: 'POST', headers: { 'api-key': 'nope', 'content-type': 'application/json' }, body });
    expect(wrongKey.status).toBe(401);
    expect(((await wrongKey.json()) as { error: { code: string } }).error.code).toBe('401');

    const noVersion = await fetch(path, { method: 'POST', headers: { 'api-key': fake.apiKey, 'content-type': 'application/json' }, body });
    expect(noVersion.status).toBe(404);
  });

  it('reports Azure content filtering for a flagged prompt', async () => {
    fake.switches.moderation = 'input';
    const response = await fetch(`${fake.url}/openai/deployments/dall-e-3/images/generations?api-version=2024-10-21`, {
      method: 'POST',
      headers: { 'api-key': fake.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x' }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; inner_error: { code: string } } };
    expect(body.error.code).toBe('content_filter');
    expect(body.error.inner_error.code).toBe('ResponsibleAIPolicyViolation');
  });
});
