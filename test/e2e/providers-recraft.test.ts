// Recraft end to end: OpenAI-format requests through the gateway over HTTP to the Recraft fake —
// raster and vector (SVG) generations, SVG hosting on the gateway's origin, edits (imageToImage and
// inpaint), an async task, and failures in OpenAI's shape.

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRecraftFake, type RecraftFake } from '../../src/testing/fakes/recraft.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { call, waitForTask } from './task-helpers.js';

const models = ['recraftv3', 'recraftv3_vector', 'recraftv4_1', 'recraftv4_1_vector'];

const rig = useProviderRig(startRecraftFake, (fake) => [{ name: 'recraft', provider: 'recraft', base_url: `${fake.url}/v1`, api_key: fake.token, models }]);

// A second account whose vector model answers an SVG with script in it.
let hostile: RecraftFake;
beforeAll(async () => {
  hostile = await startRecraftFake({ vectorDocument: (width, height) => `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" onload="fetch('/admin')"><rect width="10" height="10"/></svg>` });
});
afterAll(async () => {
  await hostile.close();
});

describe('Recraft through the gateway', () => {
  it('generates raster images at the asked size with style and substyle, n as one call', async () => {
    const answer = await generate(rig.gateway, { model: 'recraftv3', prompt: 'a red fox in snow', n: 2, size: '1536x1024', style: 'digital_illustration', substyle: 'pixel_art' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('recraft');
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.format, image.width, image.height])).toEqual([['png', 1536, 1024], ['png', 1536, 1024]]);
    expect(rig.fake.calls.at(-1)?.body).toMatchObject({ model: 'recraftv3', n: 2, size: '1536x1024', style: 'digital_illustration', substyle: 'pixel_art', image_format: 'png' });
  });

  it('answers a vector model with its SVG as b64_json by default format', async () => {
    const answer = await generate(rig.gateway, { model: 'recraftv4_1_vector', prompt: 'a cat on a mat', size: '1344x768', response_format: 'b64_json' });
    expect(answer.status).toBe(200);
    const svg = Buffer.from(answer.body.data?.[0]?.b64_json ?? '', 'base64').toString('utf8');
    expect(svg).toMatch(/^<svg [^>]*width="1344" height="768"/);
  });

  it('hosts an SVG on its origin as image/svg+xml behind a sandboxing CSP and nosniff, charged at the vector price', async () => {
    const before = await chargedSoFar();
    const answer = await generate(rig.gateway, { model: 'recraftv3_vector', prompt: 'a logo', size: '1024x1024', style: 'vector_illustration', substyle: 'line_art' });
    expect(answer.status).toBe(200);
    const url = answer.body.data?.[0]?.url ?? '';
    expect(url.startsWith(`${rig.gateway.url}/`)).toBe(true);
    expect(url).toMatch(/\.svg\?/);
    const hosted = await fetch(url);
    expect(hosted.status).toBe(200);
    expect(hosted.headers.get('content-type')).toBe('image/svg+xml');
    expect(hosted.headers.get('x-content-type-options')).toBe('nosniff');
    expect(hosted.headers.get('content-security-policy')).toBe("default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox");
    expect(await hosted.text()).toMatch(/^<svg /);
    // Recraft V3 vector: $0.08 an image (https://www.recraft.ai/docs/api-reference/pricing).
    expect((await chargedSoFar()) - before).toBe(80_000);
  });

  it('rasterises a vector result when png is asked for', async () => {
    const answer = await generate(rig.gateway, { model: 'recraftv4_1_vector', prompt: 'an icon', size: '1024x1024', output_format: 'png', response_format: 'b64_json' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['png', 1024, 1024]);
  });

  it('refuses svg for a raster model and a size outside the model’s list, before calling Recraft', async () => {
    const calls = rig.fake.calls.length;
    const svg = await generate(rig.gateway, { model: 'recraftv3', prompt: 'x', output_format: 'svg' });
    expect([svg.status, svg.body.error?.param]).toEqual([400, 'output_format']);
    const size = await generate(rig.gateway, { model: 'recraftv4_1', prompt: 'x', size: '1365x1024' });
    expect([size.status, size.body.error?.param]).toEqual([400, 'size']);
    expect(rig.fake.calls.length).toBe(calls);
  });

  it('refuses an SVG carrying script with a 502, and charges nothing for it', async () => {
    const other = await startTestGateway({ channels: [{ name: 'hostile', provider: 'recraft', base_url: `${hostile.url}/v1`, api_key: hostile.token, models: ['recraftv3_vector'] }] });
    try {
      const answer = await generate(other, { model: 'recraftv3_vector', prompt: 'a logo' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_invalid_response');
      expect(answer.body.error?.message).toContain('event-handler attribute');
      expect(answer.text).not.toContain('onload');
      expect(hostile.calls).toHaveLength(1);
      const usage = await call(other.url, '/v1/usage', { key: other.apiKey });
      expect(usage.body.total).toMatchObject({ images_delivered: 0, amount: 0 });
    } finally {
      await other.close();
    }
  });

  it('edits without a mask through imageToImage and with a mask through inpaint', async () => {
    const photo = await inputImage(1024, 1024);
    const plain = await edit(rig.gateway, { model: 'recraftv3', prompt: 'make it winter', strength: '0.3' }, [photo]);
    expect(plain.status).toBe(200);
    const [image] = await imagesOf(rig.gateway, plain);
    expect([image?.width, image?.height]).toEqual([1024, 1024]);
    expect(rig.fake.calls.at(-1)).toMatchObject({ operation: 'imageToImage', image: { width: 1024, height: 1024 } });

    const mask = await sharp({ create: { width: 1024, height: 1024, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const masked = await edit(rig.gateway, { model: 'recraftv3', prompt: 'add a hat' }, [photo], mask);
    expect(masked.status).toBe(200);
    expect(rig.fake.calls.at(-1)).toMatchObject({ operation: 'inpaint', mask: { width: 1024, height: 1024, channels: 1 } });
  });

  it('runs as an async task and ends succeeded with the image', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'recraftv4_1', prompt: 'a lighthouse', size: '1280x832' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const url = task.result?.data?.[0]?.url as string | undefined;
    const b64 = task.result?.data?.[0]?.b64_json as string | undefined;
    const bytes = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(await (await fetch(String(url))).arrayBuffer());
    const meta = await sharp(bytes).metadata();
    expect([meta.width, meta.height]).toEqual([1280, 832]);
  });

  it('answers a moderation refusal as content_policy_violation, and an empty Recraft account as out of funds', async () => {
    rig.fake.switches.moderation = 'input';
    const flagged = await generate(rig.gateway, { model: 'recraftv3', prompt: 'x' });
    expect([flagged.status, flagged.body.error?.code]).toEqual([400, 'content_policy_violation']);
    delete rig.fake.switches.moderation;
    // Last: the only channel is then marked out of funds, and later requests find none.
    rig.fake.switches.outOfFunds = true;
    const broke = await generate(rig.gateway, { model: 'recraftv3', prompt: 'x' });
    expect(broke.body.error?.code).toBe('upstream_out_of_funds');
  });
});

/** What the test key has been charged so far, in credits (1 credit = $0.000001). */
async function chargedSoFar(): Promise<number> {
  const usage = await call(rig.gateway.url, '/v1/usage', { key: rig.gateway.apiKey });
  return Number(usage.body.total.amount);
}
