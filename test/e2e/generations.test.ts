// POST /v1/images/generations end to end on the offline engine: every catalog model family, the
// relay extensions (aspect_ratio, response_format everywhere, pass-through fields), the seed
// documents' examples as written, and what the bytes really are (format, dimensions, alpha).

import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { decodeImage, decodeItem, expectOpenAIError, generate, imagesBody, itemBytes, warningsOf } from './images-api-helpers.js';

let gateway: TestGateway;
let client: OpenAI;

beforeAll(async () => {
  gateway = await startTestGateway();
  client = new OpenAI({ apiKey: gateway.apiKey, baseURL: `${gateway.url}/v1`, maxRetries: 0 });
});
afterAll(async () => gateway.close());

describe('each catalog model family', () => {
  it('dall-e-2: the default model, answered with a signed URL to a PNG of the default size', async () => {
    const response = await generate(gateway, { prompt: 'a red bicycle' });
    const body = imagesBody(response);
    expect(response.headers.get('x-imagegate-provider')).toBe('offline');
    expect(body.data).toHaveLength(1);
    const url = body.data[0]?.url ?? '';
    expect(url.startsWith(`${gateway.url}/v1/files/`)).toBe(true);
    expect(body.data[0]?.b64_json).toBeUndefined();
    const image = await decodeItem({ url });
    expect([image.format, image.width, image.height]).toEqual(['png', 1024, 1024]);
    // dall-e responses carry no gpt-image details.
    expect(body.size).toBeUndefined();
    expect(body.output_format).toBeUndefined();
  });

  it('dall-e-3 1792x1024 quality hd (SDK): a URL, a revised_prompt, and a 1792x1024 image', async () => {
    const result = await client.images.generate({ model: 'dall-e-3', prompt: 'A futuristic cityscape at night with neon lights', size: '1792x1024', quality: 'hd', n: 1 });
    const item = result.data?.[0];
    expect(item?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/files\//);
    expect(typeof item?.revised_prompt).toBe('string');
    expect(item?.revised_prompt).toContain('A futuristic cityscape at night');
    const image = await decodeItem(item ?? {});
    expect([image.format, image.width, image.height]).toEqual(['png', 1792, 1024]);
  });

  it('dall-e-3 keeps revised_prompt with b64_json and serves 1024x1792', async () => {
    const body = imagesBody(await generate(gateway, { model: 'dall-e-3', prompt: 'a tall tower', size: '1024x1792', response_format: 'b64_json', style: 'natural' }));
    expect(body.data[0]?.revised_prompt).toBeTruthy();
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.width, image.height]).toEqual([1024, 1792]);
  });

  it('gpt-image-1 with a transparent background gives a PNG with real alpha, reported in the body', async () => {
    const result = await client.images.generate({ model: 'gpt-image-1', prompt: 'a sticker of a fox', background: 'transparent', size: '1024x1536' });
    expect(result.background).toBe('transparent');
    expect(result.output_format).toBe('png');
    expect(result.size).toBe('1024x1536');
    const image = await decodeImage(Buffer.from(result.data?.[0]?.b64_json ?? '', 'base64'));
    expect([image.format, image.width, image.height, image.hasAlpha]).toEqual(['png', 1024, 1536, true]);
    // Real transparency: some pixels are (at least partly) see-through.
    expect(image.minAlpha).toBeLessThan(255);
  });

  it('gpt-image-1 transparent + webp gives a WebP with alpha; opaque gives no see-through pixel', async () => {
    const transparent = imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt: 'a glass marble', background: 'transparent', output_format: 'webp' }));
    expect(transparent.output_format).toBe('webp');
    const webp = await decodeItem(transparent.data[0] ?? {});
    expect([webp.format, webp.hasAlpha]).toEqual(['webp', true]);
    expect(webp.minAlpha).toBeLessThan(255);

    const opaque = imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt: 'a glass marble', background: 'opaque' }));
    expect(opaque.background).toBe('opaque');
    const png = await decodeItem(opaque.data[0] ?? {});
    expect(png.minAlpha).toBe(255);
  });

  it.each([
    ['3840x2160', 3840, 2160],
    ['2160x3840', 2160, 3840],
    ['2048x1152', 2048, 1152],
    ['1280x720', 1280, 720],
  ])('gpt-image-2 serves the free size %s exactly', async (size, width, height) => {
    const body = imagesBody(await generate(gateway, { model: 'gpt-image-2', prompt: 'a mountain panorama', size, output_format: 'jpeg' }));
    expect(body.size).toBe(size);
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.format, image.width, image.height]).toEqual(['jpeg', width, height]);
  });

  it('gpt-image-2 size auto is the default 1024x1024', async () => {
    const body = imagesBody(await generate(gateway, { model: 'gpt-image-2', prompt: 'x', size: 'auto' }));
    expect(body.size).toBe('1024x1024');
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.width, image.height]).toEqual([1024, 1024]);
  });

  it('gpt-image-2 rejects sizes that break its rule, naming size and the rule', async () => {
    expectOpenAIError(await generate(gateway, { model: 'gpt-image-2', prompt: 'x', size: '1000x1000' }), {
      status: 400, code: 'invalid_value', param: 'size', mentions: ['multiples of 16'],
    });
    expectOpenAIError(await generate(gateway, { model: 'gpt-image-2', prompt: 'x', size: '3840x2176' }), {
      status: 400, code: 'invalid_value', param: 'size', mentions: ['8294400'],
    });
  });

  it('sora_image answers with a URL by default and honours its sizes', async () => {
    const body = imagesBody(await generate(gateway, { model: 'sora_image', prompt: 'a paper boat', size: '1536x1024' }));
    const url = body.data[0]?.url;
    expect(url).toBeDefined();
    const image = await decodeItem({ url });
    expect([image.format, image.width, image.height]).toEqual(['png', 1536, 1024]);
  });

  it('flux-kontext-pro with aspect_ratio 21:9 (the relay example as written) gives a 21:9 image', async () => {
    const body = imagesBody(
      await generate(gateway, { model: 'flux-kontext-pro', prompt: 'a beautiful landscape with a river and mountains', n: 1, aspect_ratio: '21:9' }),
    );
    const image = await decodeItem({ url: body.data[0]?.url ?? '' });
    const width = image.width ?? 0;
    const height = image.height ?? 1;
    expect(Math.abs(width / height - 21 / 9)).toBeLessThan(0.02);
    // About one megapixel, as the catalog asks of kontext models.
    expect(width * height).toBeGreaterThan(0.9 * 1024 * 1024);
    expect(width * height).toBeLessThan(1.1 * 1024 * 1024);
  });

  it('flux-1.1-pro defaults to a 1024x768 JPEG behind a URL', async () => {
    const response = await generate(gateway, { model: 'flux-1.1-pro', prompt: 'a foggy harbour' });
    const body = imagesBody(response);
    const download = await fetch(body.data[0]?.url ?? '');
    expect(download.headers.get('content-type')).toBe('image/jpeg');
    const image = await decodeImage(Buffer.from(await download.arrayBuffer()));
    expect([image.format, image.width, image.height]).toEqual(['jpeg', 1024, 768]);
  });

  it('the alias flux-pro-1.1 is served by flux-1.1-pro and says so', async () => {
    const response = await generate(gateway, { model: 'flux-pro-1.1', prompt: 'a harbour', response_format: 'b64_json' });
    imagesBody(response);
    expect(warningsOf(response)).toContain('flux-pro-1.1 is served by flux-1.1-pro');
  });
});

describe('response_format', () => {
  /** As OpenAI and the relays: url for dall-e, flux and sora; b64_json for gpt-image. Other families keep the catalog's word. */
  const expectedDefault = (model: { id: string; default_response_format: string }): string => {
    if (model.id.startsWith('gpt-image')) return 'b64_json';
    if (/^(dall-e|flux|sora)/.test(model.id)) return 'url';
    return model.default_response_format;
  };

  it('is honoured for every catalog model, with url for dall-e/flux/sora and b64_json for gpt-image by default', async () => {
    // Edit-only models (ideogram-v3-reframe …) answer generations with a 400 by design.
    const catalogModels = gateway.gateway.catalog.list().filter((model) => model.operations.includes('generate'));
    const ids = catalogModels.map((model) => model.id);
    expect(ids).toEqual(expect.arrayContaining(['dall-e-2', 'dall-e-3', 'gpt-image-1', 'gpt-image-2', 'sora_image', 'flux-kontext-pro', 'flux-1.1-pro']));
    for (const catalogModel of catalogModels) {
      const model = catalogModel.id;
      // The smallest size dall-e-2 takes keeps this loop quick; other models use their defaults.
      const size = model === 'dall-e-2' ? '256x256' : undefined;
      const fallback = imagesBody(await generate(gateway, { model, prompt: 'a small test', size }));
      if (expectedDefault(catalogModel) === 'b64_json') {
        expect(fallback.data[0]?.b64_json, model).toBeTruthy();
        expect(fallback.data[0]?.url, model).toBeUndefined();
      } else {
        expect(fallback.data[0]?.url ?? '', model).toMatch(/^http:\/\//);
        expect(fallback.data[0]?.b64_json, model).toBeUndefined();
      }
      const asUrl = imagesBody(await generate(gateway, { model, prompt: 'a small test', size, response_format: 'url' }));
      expect(asUrl.data[0]?.url?.startsWith(gateway.url), model).toBe(true);
      expect(asUrl.data[0]?.b64_json, model).toBeUndefined();
      const asBase64 = imagesBody(await generate(gateway, { model, prompt: 'a small test', size, response_format: 'b64_json' }));
      expect(asBase64.data[0]?.url, model).toBeUndefined();
      // The URL and the base64 carry the same picture (deterministic for prompt, seed and size).
      const viaUrl = await decodeItem(asUrl.data[0] ?? {});
      const viaBase64 = await decodeItem(asBase64.data[0] ?? {});
      expect([viaBase64.width, viaBase64.height, viaBase64.format], model).toEqual([viaUrl.width, viaUrl.height, viaUrl.format]);
    }
    // Three renders per catalog model (over a hundred): minutes on a loaded 2-core machine, not the default 30 s.
  }, 180_000);

  it('gives gpt-image-1 a hosted URL when asked, with the right content type', async () => {
    const body = imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt: 'x', response_format: 'url', output_format: 'webp' }));
    const response = await fetch(body.data[0]?.url ?? '');
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/webp');
  });
});

describe('n, output formats and compression', () => {
  it('n > 1 gives that many distinct images', async () => {
    const body = imagesBody(await generate(gateway, { model: 'dall-e-2', prompt: 'three cats', n: 3, size: '256x256', response_format: 'b64_json' }));
    expect(body.data).toHaveLength(3);
    const images = body.data.map((item) => item.b64_json ?? '');
    expect(new Set(images).size).toBe(3);
    for (const item of body.data) {
      const image = await decodeItem(item);
      expect([image.width, image.height]).toEqual([256, 256]);
    }
  });

  it('n > 1 as URLs gives distinct links to distinct images', async () => {
    const body = imagesBody(await generate(gateway, { model: 'flux-schnell', prompt: 'two dogs', n: 2, size: '512x512' }));
    const urls = body.data.map((item) => item.url ?? '');
    expect(new Set(urls).size).toBe(2);
    const bytes = await Promise.all(body.data.map(itemBytes));
    expect(bytes[0]?.equals(bytes[1] ?? Buffer.alloc(0))).toBe(false);
  });

  it.each(['png', 'jpeg', 'webp'] as const)('output_format %s is encoded as asked', async (format) => {
    const body = imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt: 'a teapot', output_format: format }));
    expect(body.output_format).toBe(format);
    const image = await decodeItem(body.data[0] ?? {});
    expect(image.format).toBe(format);
  });

  // OpenAI: output_compression defaults to 100 and lower values compress more (a smaller, lossier file).
  it.each(['jpeg', 'webp'] as const)('lower output_compression gives a smaller %s', async (format) => {
    const request = { model: 'gpt-image-1', prompt: 'a detailed city map', output_format: format, seed: 7 };
    const light = await itemBytes(imagesBody(await generate(gateway, { ...request, output_compression: 95 })).data[0] ?? {});
    const heavy = await itemBytes(imagesBody(await generate(gateway, { ...request, output_compression: 5 })).data[0] ?? {});
    expect((await decodeImage(heavy)).format).toBe(format);
    expect(heavy.length).toBeLessThan(light.length);
  });

  it('output_compression on png is ignored with a warning, not an error', async () => {
    const response = await generate(gateway, { model: 'gpt-image-1', prompt: 'x', output_format: 'png', output_compression: 50 });
    expect((await decodeItem(imagesBody(response).data[0] ?? {})).format).toBe('png');
    expect(warningsOf(response)).toContain('output_compression');
  });

  it('the same prompt and seed give the same picture; another prompt gives another', async () => {
    const request = { model: 'gpt-image-1', prompt: 'a windmill', seed: 42 };
    const first = imagesBody(await generate(gateway, request)).data[0]?.b64_json;
    const again = imagesBody(await generate(gateway, request)).data[0]?.b64_json;
    const other = imagesBody(await generate(gateway, { ...request, prompt: 'a submarine' })).data[0]?.b64_json;
    expect(first).toBe(again);
    expect(other).not.toBe(first);
  });
});

describe('relay extensions and wire details', () => {
  it('answers on the trailing-slash path', async () => {
    const response = await generate(gateway, { model: 'dall-e-2', prompt: 'x', size: '256x256' }, {});
    const slashed = await fetch(`${gateway.url}/v1/images/generations/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-2', prompt: 'x', size: '256x256', response_format: 'b64_json' }),
    });
    expect(response.status).toBe(200);
    expect(slashed.status).toBe(200);
    const body = (await slashed.json()) as { data: Array<{ b64_json: string }> };
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.width, image.height]).toEqual([256, 256]);
  });

  it('passes unknown fields to the provider and reports them in x-imagegate-warnings', async () => {
    const response = await generate(gateway, { model: 'flux-1.1-pro', prompt: 'x', guidance: 3.5, safety_tolerance: 2, prompt_upsampling: true });
    imagesBody(response);
    const warnings = warningsOf(response);
    expect(warnings).toContain('passed to the provider as-is');
    for (const field of ['guidance', 'safety_tolerance', 'prompt_upsampling']) expect(warnings).toContain(field);
  });

  it('maps aspect_ratio to the nearest allowed size and says so in the header', async () => {
    const exact = await generate(gateway, { model: 'dall-e-3', prompt: 'x', aspect_ratio: '16:9', response_format: 'b64_json' });
    const exactImage = await decodeItem(imagesBody(exact).data[0] ?? {});
    expect([exactImage.width, exactImage.height]).toEqual([1792, 1024]);
    expect(warningsOf(exact)).toContain('aspect_ratio 16:9 resolved to size 1792x1024');

    const nearest = await generate(gateway, { model: 'gpt-image-1', prompt: 'x', aspect_ratio: '21:9' });
    const nearestBody = imagesBody(nearest);
    expect(nearestBody.size).toBe('1536x1024');
    expect(warningsOf(nearest)).toContain('aspect_ratio 21:9 is not available for gpt-image-1; used the nearest size 1536x1024');
  });

  it('maps a pixel size to an aspect ratio for kontext models and reports it', async () => {
    const response = await generate(gateway, { model: 'flux-kontext-pro', prompt: 'x', size: '1024x1536', response_format: 'b64_json' });
    const image = await decodeItem(imagesBody(response).data[0] ?? {});
    expect(Math.abs((image.width ?? 0) / (image.height ?? 1) - 2 / 3)).toBeLessThan(0.02);
    expect(warningsOf(response)).toContain('mapped to aspect_ratio 2:3');
  });

  it('size and aspect_ratio with the same ratio both work', async () => {
    const body = imagesBody(await generate(gateway, { model: 'gpt-image-1', prompt: 'x', size: '1536x1024', aspect_ratio: '3:2' }));
    expect(body.size).toBe('1536x1024');
  });

  it('puts x-request-id on successes and errors, echoing a sane caller id', async () => {
    const ok = await generate(gateway, { model: 'dall-e-2', prompt: 'x', size: '256x256' });
    expect(ok.headers.get('x-request-id')).toMatch(/^req_[0-9a-f]{32}$/);
    const echoed = await generate(gateway, { model: 'dall-e-2', prompt: 'x', size: '256x256' }, { 'x-request-id': 'trace-123.abc' });
    expect(echoed.headers.get('x-request-id')).toBe('trace-123.abc');
    const failed = await generate(gateway, { model: 'dall-e-2' });
    expect(failed.status).toBe(400);
    expect(failed.headers.get('x-request-id')).toMatch(/^req_/);
    const unauthorised = await generate(gateway, { prompt: 'x' }, { authorization: 'Bearer wrong' });
    expect(unauthorised.status).toBe(401);
    expect(unauthorised.headers.get('x-request-id')).toMatch(/^req_/);
  });

  it('treats null fields as their defaults', async () => {
    const response = await generate(gateway, {
      model: 'dall-e-3', prompt: 'x', n: null, size: null, quality: null, style: null, response_format: null,
      background: null, output_format: null, output_compression: null, user: null, seed: null, aspect_ratio: null,
    });
    const body = imagesBody(response);
    expect(body.data).toHaveLength(1);
    const image = await decodeItem({ url: body.data[0]?.url ?? '' });
    expect([image.format, image.width, image.height]).toEqual(['png', 1024, 1024]);
  });

  it('a null model is the default model (dall-e-2)', async () => {
    const body = imagesBody(await generate(gateway, { model: null, prompt: 'x', size: '256x256', response_format: 'b64_json' }));
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.width, image.height]).toEqual([256, 256]);
  });
});

describe('the seed documents, as written', () => {
  it('gpt-image-1 example with the bare `Authorization: sk-…` header relay clients send', async () => {
    expect(gateway.apiKey.startsWith('sk-')).toBe(true);
    const response = await generate(
      gateway,
      { model: 'gpt-image-1', prompt: 'a white siamese cat', n: 1, size: '1024x1024' },
      { authorization: gateway.apiKey, accept: 'application/json' },
    );
    const body = imagesBody(response);
    expect(typeof body.created).toBe('number');
    const image = await decodeItem(body.data[0] ?? {});
    expect([image.format, image.width, image.height]).toEqual(['png', 1024, 1024]);
  });

  it('the dall-e-3 curl (1792x1024, n 1, a long prompt) with a bare key', async () => {
    const response = await generate(
      gateway,
      {
        model: 'dall-e-3',
        size: '1792x1024',
        n: 1,
        prompt:
          'A close-up depiction of a domestic cat in a relaxed state. The cat features vibrant orange fur, with striking white markings around its eyes that extend down to its soft, pink nose. It has piercing green eyes, brimming with curiosity, and small white whiskers that contrast against its orange fur. The background is a gentle blur, allowing the observer to focus solely on the cat.',
      },
      { authorization: gateway.apiKey },
    );
    const body = imagesBody(response);
    expect(body.data[0]?.revised_prompt).toBeTruthy();
    const image = await decodeItem({ url: body.data[0]?.url ?? '' });
    expect([image.width, image.height]).toEqual([1792, 1024]);
  });

  it('the dall-e-3 hd curl with a Chinese prompt and a Bearer key', async () => {
    const body = imagesBody(
      await generate(gateway, { model: 'dall-e-3', prompt: '一只在宇宙中漂浮的橙色猫咪,背景是紫色星云,写实摄影风格', size: '1024x1024', quality: 'hd', n: 1 }),
    );
    expect(body.data[0]?.url).toBeTruthy();
    expect(body.data[0]?.revised_prompt).toContain('橙色猫咪');
  });

  it('the relay flux example (gpt-compatible format) on the trailing-slash path', async () => {
    const response = await fetch(`${gateway.url}/v1/images/generations/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'flux-kontext-pro', prompt: 'a beautiful landscape with a river and mountains', n: 1, aspect_ratio: '21:9' }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { created: number; data: Array<{ url: string }> };
    expect(body.data[0]?.url).toMatch(/^http:\/\//);
  });
});

describe('streaming requests', () => {
  it('stream: true through the SDK yields an image_generation.completed event with the right image', async () => {
    const stream = await client.images.generate({ model: 'gpt-image-1', prompt: 'an otter', size: '1536x1024', stream: true });
    const completed = [];
    for await (const event of stream) {
      if (event.type === 'image_generation.completed') completed.push(event);
    }
    expect(completed).toHaveLength(1);
    const image = await decodeImage(Buffer.from(completed[0]?.b64_json ?? '', 'base64'));
    expect([image.format, image.width, image.height]).toEqual(['png', 1536, 1024]);
  });
});
