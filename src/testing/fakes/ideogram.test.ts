// The Ideogram fake driven the way Ideogram's API reference calls the API (there is no official
// JavaScript SDK): its TypeScript example is `fetch` with a FormData body and the `Api-Key` header
// (https://developer.ideogram.ai/api-reference/api-reference/generate-v3, "SDK Code Examples").

import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ideogramFakeDefaultApiKey, startIdeogramFake, type IdeogramFake } from './ideogram.js';

let fake: IdeogramFake;

beforeAll(async () => {
  fake = await startIdeogramFake();
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

async function post(endpoint: string, form: FormData, apiKey = ideogramFakeDefaultApiKey): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${fake.url}/v1/ideogram-v3/${endpoint}`, { method: 'POST', headers: { 'Api-Key': apiKey }, body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function pngBlob(width: number, height: number): Promise<Blob> {
  return new Blob([await sharp({ create: { width, height, channels: 3, background: '#808080' } }).png().toBuffer()], { type: 'image/png' });
}

describe('Ideogram fake', () => {
  it('answers the reference’s TypeScript example with an ImageGenerationResponseV3 whose link serves the image', async () => {
    const formData = new FormData();
    formData.append('prompt', 'A photo of a cat');
    formData.append('rendering_speed', 'TURBO');
    const { status, body } = await post('generate', formData);
    expect(status).toBe(200);
    expect(typeof body['created']).toBe('string');
    const [item] = body['data'] as Array<Record<string, unknown>>;
    // Defaults to 1x1.
    expect(item).toMatchObject({ resolution: '1024x1024', is_image_safe: true, seed: expect.any(Number), prompt: expect.any(String) });
    const image = await fetch(String(item?.['url']));
    expect(image.status).toBe(200);
    expect((await sharp(Buffer.from(await image.arrayBuffer())).metadata()).width).toBe(1024);
  });

  it('takes repeated style_reference_images parts with aspect_ratio 3x1, as the reference’s Python example sends', async () => {
    const form = new FormData();
    form.append('prompt', 'A picture of a cat');
    form.append('aspect_ratio', '3x1');
    form.append('style_reference_images', await pngBlob(64, 64), 'style_reference_image_1.png');
    form.append('style_reference_images', await pngBlob(64, 64), 'style_reference_image_2.png');
    const { status, body } = await post('generate', form);
    expect(status).toBe(200);
    expect((body['data'] as Array<Record<string, unknown>>)[0]?.['resolution']).toBe('1536x512');
    expect(fake.submissions.at(-1)?.files['style_reference_images']).toHaveLength(2);
  });

  it('refuses resolution with aspect_ratio, values outside the enums, and num_images above 8', async () => {
    const form = new FormData();
    form.append('prompt', 'x');
    form.append('resolution', '1024x1024');
    form.append('aspect_ratio', '1x1');
    form.append('num_images', '9');
    form.append('rendering_speed', 'FAST');
    const { status, body } = await post('generate', form);
    expect(status).toBe(400);
    expect(String(body['error'])).toMatch(/cannot be used in conjunction with resolution.*rendering_speed.*num_images/);
    const ratio = new FormData();
    ratio.append('prompt', 'x');
    ratio.append('aspect_ratio', '16:9');
    expect((await post('generate', ratio)).status).toBe(400);
  });

  it('needs image, mask and prompt on /edit, with the mask the image’s size; remix needs no mask', async () => {
    const missing = new FormData();
    missing.append('prompt', 'a hat');
    missing.append('image', await pngBlob(64, 64), 'image.png');
    expect((await post('edit', missing)).body['error']).toMatch(/mask: required/);
    const mismatched = new FormData();
    mismatched.append('prompt', 'a hat');
    mismatched.append('image', await pngBlob(64, 64), 'image.png');
    mismatched.append('mask', await pngBlob(32, 32), 'mask.png');
    expect((await post('edit', mismatched)).body['error']).toMatch(/same size as the image/);
    const remix = new FormData();
    remix.append('prompt', 'a hat');
    remix.append('image', await pngBlob(64, 64), 'image.png');
    remix.append('image_weight', '101');
    expect((await post('remix', remix)).body['error']).toMatch(/image_weight/);
  });

  it('answers a wrong key with 401 (403 on remix) and a flagged prompt with the documented 422 body', async () => {
    const form = new FormData();
    form.append('prompt', 'x');
    expect((await post('generate', form, 'wrong')).status).toBe(401);
    expect((await post('remix', form, 'wrong')).status).toBe(403);
    fake.switches.moderation = 'input';
    expect(await post('generate', form)).toEqual({ status: 422, body: { error: 'Prompt provided failed safety check due to the inclusion of prohibited content.' } });
  });

  it('serves a link only with its signature and until it expires', async () => {
    const form = new FormData();
    form.append('prompt', 'x');
    const url = String((((await post('generate', form)).body['data'] as Array<Record<string, unknown>>)[0])?.['url']);
    expect((await fetch(url.replace(/sig=[0-9a-f]{4}/, 'sig=0000'))).status).toBe(404);
    fake.switches.resultUrlTtlMs = 0;
    expect((await fetch(url)).status).toBe(403);
  });
});
