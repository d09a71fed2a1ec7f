// Ideogram 3.0 end to end: OpenAI-format requests through the gateway over HTTP to the Ideogram fake
// (multipart in, JSON with expiring image URLs out, which the gateway downloads and hosts itself).
// Ideogram answers synchronously, so there is no upstream job to resume after a restart; ?async=true
// runs the same call in a gateway task.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { ideogramFakeDefaultApiKey, startIdeogramFake, type IdeogramFake } from '../../src/testing/fakes/ideogram.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { decode, edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { call, waitForTask } from './task-helpers.js';

const wrongKey = 'ideogram-wrong-key-do-not-echo-4f2a';

function ideogramChannel(fake: IdeogramFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'ideogram',
    provider: 'ideogram',
    base_url: fake.url,
    api_key: ideogramFakeDefaultApiKey,
    models: ['ideogram-v3', 'ideogram-v3-reframe', 'ideogram-v3-replace-background'],
    ...overrides,
  };
}

const rig = useProviderRig(startIdeogramFake, (fake) => [ideogramChannel(fake)]);

// First: the out-of-credit test below marks the channel out of funds, and /v1/models then shows it unserved.
describe('Ideogram in /v1/models', () => {
  it('lists the three Ideogram models served by the ideogram channel, with their endpoints and qualities', async () => {
    const response = await fetch(`${rig.gateway.url}/v1/models`, { headers: { authorization: `Bearer ${rig.gateway.apiKey}` } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: { id: string; owned_by: string; imagegate: { provider: string; channel: string; endpoints: string[]; max_n: number; qualities: string[] | null } }[] };
    const byId = new Map(body.data.map((model) => [model.id, model]));
    expect(byId.get('ideogram-v3')).toMatchObject({ owned_by: 'ideogram', imagegate: { provider: 'ideogram', channel: 'ideogram', endpoints: ['generate', 'edit'], max_n: 8, qualities: ['flash', 'low', 'medium', 'high'] } });
    for (const id of ['ideogram-v3-reframe', 'ideogram-v3-replace-background']) {
      expect(byId.get(id)).toMatchObject({ owned_by: 'ideogram', imagegate: { provider: 'ideogram', endpoints: ['edit'] } });
    }
  });
});

describe('Ideogram through the gateway', () => {
  it('generates at a listed resolution, the expiring Ideogram URL downloaded and re-hosted on the gateway', async () => {
    const fetchesBefore = rig.fake.imageFetches;
    const answer = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'a sign that reads OPEN', size: '1280x800', quality: 'low', n: 2 });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('ideogram');
    const urls = (answer.body.data ?? []).map((item) => item.url ?? '');
    expect(urls).toHaveLength(2);
    expect(urls.every((url) => url.startsWith(rig.gateway.url) && !url.includes('/api/images/ephemeral/'))).toBe(true);
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.format, image.width, image.height])).toEqual([['png', 1280, 800], ['png', 1280, 800]]);
    // One upstream call for n: 2 (num_images), and both links fetched by the gateway.
    expect(rig.fake.submissions.at(-1)?.fields).toEqual({ prompt: 'a sign that reads OPEN', resolution: '1280x800', num_images: '2', rendering_speed: 'TURBO' });
    expect(rig.fake.imageFetches - fetchesBefore).toBe(2);
    const request = [...rig.fake.requests].reverse().find((candidate) => candidate.path === '/v1/ideogram-v3/generate');
    expect(request?.headers['api-key']).toBe(ideogramFakeDefaultApiKey);
    expect(String(request?.headers['content-type'])).toMatch(/^multipart\/form-data; boundary=/);
  });

  it('sends an unlisted size as the nearest aspect ratio and says so, returning base64 in the asked format', async () => {
    const answer = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'a wide banner', size: '1536x1024', response_format: 'b64_json', output_format: 'webp' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect(image?.format).toBe('webp');
    expect([image?.width, image?.height]).toEqual([1248, 832]);
    expect(rig.fake.submissions.at(-1)?.fields).toMatchObject({ aspect_ratio: '3x2' });
    expect(answer.headers.get('x-imagegate-warnings')).toContain("1536x1024 is not one of Ideogram's resolutions; sent aspect_ratio 3x2");
  });

  it('passes Ideogram fields through and refuses rendering_speed, which quality sets and prices', async () => {
    const answer = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'a logo', style_type: 'DESIGN', magic_prompt: 'OFF', negative_prompt: 'gradients' });
    expect(answer.status).toBe(200);
    expect(rig.fake.submissions.at(-1)?.fields).toMatchObject({ style_type: 'DESIGN', magic_prompt: 'OFF', negative_prompt: 'gradients', rendering_speed: 'DEFAULT' });
    const refused = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'a logo', rendering_speed: 'QUALITY' });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ code: 'invalid_value', param: 'rendering_speed' });
  });

  it('edits with a mask through /edit (mask black where OpenAI’s is transparent) and without one through /remix', async () => {
    const source = await inputImage(512, 384);
    const pixels = Buffer.alloc(512 * 384 * 4);
    for (let index = 0; index < 512 * 384; index += 1) pixels[index * 4 + 3] = index % 512 < 256 ? 0 : 255;
    const mask = await sharp(pixels, { raw: { width: 512, height: 384, channels: 4 } }).png().toBuffer();
    const masked = await edit(rig.gateway, { model: 'ideogram-v3', prompt: 'a red door', size: '512x384' }, [source], mask);
    const [edited] = await imagesOf(rig.gateway, masked);
    expect([edited?.width, edited?.height]).toEqual([512, 384]);
    const sent = rig.fake.submissions.at(-1);
    expect(sent?.endpoint).toBe('edit');
    expect(sent?.files['mask']?.[0]).toMatchObject({ width: 512, height: 384 });
    expect(sent?.files['mask']?.[0]?.leftMean).toBeLessThan(5);
    expect(sent?.files['mask']?.[0]?.rightMean).toBeGreaterThan(250);

    const remixed = await edit(rig.gateway, { model: 'ideogram-v3', prompt: 'as a watercolour', size: '1024x1024' }, [source]);
    expect(remixed.status).toBe(200);
    expect(rig.fake.submissions.at(-1)).toMatchObject({ endpoint: 'remix', fields: { prompt: 'as a watercolour', resolution: '1024x1024' } });
  });

  it('offers reframe and replace-background as edit-only models', async () => {
    const square = await inputImage(512, 512);
    const reframed = await edit(rig.gateway, { model: 'ideogram-v3-reframe', prompt: 'wider', size: '1312x736' }, [square]);
    const [image] = await imagesOf(rig.gateway, reframed);
    expect([image?.width, image?.height]).toEqual([1312, 736]);
    expect(rig.fake.submissions.at(-1)).toMatchObject({ endpoint: 'reframe', fields: { resolution: '1312x736' } });

    const replaced = await edit(rig.gateway, { model: 'ideogram-v3-replace-background', prompt: 'a night market' }, [square]);
    expect(replaced.status).toBe(200);
    expect(rig.fake.submissions.at(-1)).toMatchObject({ endpoint: 'replace-background', fields: { prompt: 'a night market' } });

    const generated = await generate(rig.gateway, { model: 'ideogram-v3-reframe', prompt: 'no input image' });
    expect(generated.status).toBe(400);
  });

  it('runs ?async=true as a task that ends with the re-hosted image', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'ideogram-v3', prompt: 'a lighthouse', size: '1024x1024' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const item = task.result?.data?.[0];
    const b64 = item?.b64_json as string | undefined;
    const bytes = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(await (await fetch(String(item?.url))).arrayBuffer());
    const image = await decode(bytes);
    expect([image.width, image.height]).toEqual([1024, 1024]);
    expect(rig.fake.submissions.at(-1)?.fields).toMatchObject({ prompt: 'a lighthouse', resolution: '1024x1024' });
  });

  it('maps a 422 safety failure to content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it('never hands out an image that failed is_image_safe, delivering the others with a warning', async () => {
    rig.fake.switches.moderation = 'output';
    const blocked = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'renders badly' });
    expect(blocked.status).toBe(400);
    expect(blocked.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });

    delete rig.fake.switches.moderation;
    rig.fake.switches.unsafeImages = 1;
    const partial = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'three posters', n: 3 });
    expect(await imagesOf(rig.gateway, partial)).toHaveLength(2);
    expect(partial.headers.get('x-imagegate-warnings')).toContain('Ideogram withheld 1 of 3 images');
  });

  it('reports an Ideogram link that expired before the download as a 502', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const answer = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'too late' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.message).toMatch(/could not be downloaded \(HTTP 403\); it may have expired/);
  });

  it('passes a 429 on with its retry-after, and answers out of credit as upstream_out_of_funds', async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 45;
    const limited = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'too many' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('45');

    delete rig.fake.switches.failStatus;
    rig.fake.switches.outOfFunds = true;
    const broke = await generate(rig.gateway, { model: 'ideogram-v3', prompt: 'no credit' });
    expect(broke.status).toBe(502);
    expect(broke.body.error?.code).toBe('upstream_out_of_funds');
  });
});

describe('Ideogram with a key it rejects', () => {
  it('answers 502 upstream_auth_failed without the key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [ideogramChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'ideogram-v3', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
    } finally {
      await rejected.close();
    }
  });
});
