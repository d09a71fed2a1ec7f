// Seedream on Volcengine Ark end to end: OpenAI-format requests through the gateway over HTTP to the Ark
// fake — n as n calls, result URLs downloaded and re-hosted, edits with the uploads as `image`,
// `?async=true`, the retired 3.0 served by 4.0, moderation, an overdue account failing over, an
// expired result link, and image sets (`sequential_image_generation: "auto"`) charged per image delivered.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { defaultVolcengineFakeApiKey, startVolcengineFake, type VolcengineFake } from '../../src/testing/fakes/volcengine.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { call, waitForTask } from './task-helpers.js';
import { admin, createKey, generate as generateWithKey, startBillingGateway } from './billing-support.js';

const seedream40 = 'doubao-seedream-4-0-250828';
const seedreamModels = ['doubao-seedream-5-0-260128', 'doubao-seedream-4-5-251128', seedream40, 'doubao-seedream-3-0-t2i-250415'];

function arkChannel(name: string, upstream: VolcengineFake, priority = 0): ChannelConfig {
  return { name, provider: 'volcengine', base_url: `${upstream.url}/api/v3`, api_key: defaultVolcengineFakeApiKey, models: seedreamModels, priority };
}

const rig = useProviderRig(startVolcengineFake, (fake) => [arkChannel('ark', fake)]);

describe('Seedream through the gateway', () => {
  it('makes n calls of one image each at the asked size, and re-hosts the Ark links on the gateway', async () => {
    const before = rig.fake.jobs.length;
    const answer = await generate(rig.gateway, { model: seedream40, prompt: 'a red fox in snow', n: 2, size: '2560x1440', response_format: 'url' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('volcengine');
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.format, image.width, image.height])).toEqual([['jpeg', 2560, 1440], ['jpeg', 2560, 1440]]);
    const jobs = rig.fake.jobs.slice(before);
    expect(jobs).toHaveLength(2);
    for (const job of jobs) {
      expect(job.body).toMatchObject({ model: seedream40, size: '2560x1440', sequential_image_generation: 'disabled', watermark: false, response_format: 'url' });
    }
    expect(answer.text).not.toContain(rig.fake.url);
  });

  it('asks 5.0-lite for png and converts it to the asked output_format (webp)', async () => {
    const answer = await generate(rig.gateway, { model: 'doubao-seedream-5-0-260128', prompt: 'a paper boat', size: '2048x2048', output_format: 'webp', response_format: 'b64_json' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width]).toEqual(['webp', 2048]);
    expect(rig.fake.jobs.at(-1)?.body['output_format']).toBe('png');
  });

  it('refuses a size outside the model’s documented range before any call', async () => {
    const before = rig.fake.requests.length;
    const answer = await generate(rig.gateway, { model: 'doubao-seedream-4-5-251128', prompt: 'p', size: '1024x1024' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ param: 'size', type: 'invalid_request_error' });
    expect(rig.fake.requests.length).toBe(before);
  });

  it('edits with the uploads sent as data URLs in `image`', async () => {
    const photo = await inputImage(1024, 768);
    const answer = await edit(rig.gateway, { model: seedream40, prompt: 'make it winter', size: '1280x960' }, [photo, await inputImage(512, 512)]);
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([1280, 960]);
    const job = rig.fake.jobs.at(-1);
    expect(job?.inputs).toEqual([{ width: 1024, height: 768, format: 'png' }, { width: 512, height: 512, format: 'png' }]);
    expect((job?.body['image'] as string[]).every((item) => item.startsWith('data:image/png;base64,'))).toBe(true);
  });

  it('runs as an async task and ends succeeded with the image', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: seedream40, prompt: 'a lighthouse', size: '1280x720' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const b64 = task.result?.data?.[0]?.b64_json as string | undefined;
    const url = task.result?.data?.[0]?.url as string | undefined;
    const bytes = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(await (await fetch(String(url))).arrayBuffer());
    expect((await sharp(bytes).metadata()).width).toBe(1280);
    expect(rig.fake.jobs.at(-1)?.body['size']).toBe('1280x720');
  });

  it('serves the retired Seedream 3.0 by its successor 4.0, and says so', async () => {
    const answer = await generate(rig.gateway, { model: 'doubao-seedream-3-0-t2i-250415', prompt: 'a tea house', size: '1024x1024', seed: 5 });
    expect(answer.status).toBe(200);
    const job = rig.fake.jobs.at(-1);
    expect(job?.model).toBe(seedream40);
    expect(job?.body).not.toHaveProperty('seed');
    const warnings = answer.headers.get('x-imagegate-warnings') ?? '';
    expect(warnings).toContain('doubao-seedream-3-0-t2i-250415 was shut down by volcengine on 2026-05-13; served by its successor doubao-seedream-4-0-250828');
    expect(warnings).toContain('seed');
  });

  it('answers a flagged prompt with 400 content_policy_violation at the input stage', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: seedream40, prompt: 'something flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'content_policy_violation', moderation_details: { moderation_stage: 'input' } });
  });

  it('says the result is gone (502, not retried) when the Ark link has expired before the download', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const before = rig.fake.jobs.length;
    const answer = await generate(rig.gateway, { model: seedream40, prompt: 'p' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.message).toContain('may have expired');
    expect(rig.fake.jobs.length).toBe(before + 1);
  });
});

describe('Seedream image sets', () => {
  /** Seedream 4.0's price (catalog/prices.yaml, $0.03 an image) in credits ($1 = 1 000 000). */
  const seedream40Credits = 30_000;

  it('asks Ark for one set of up to max_images, answers every image of it, charges exactly the images delivered, and reserves the whole set', async () => {
    const gateway = await startBillingGateway({ channels: [arkChannel('ark', rig.fake), { name: 'offline', provider: 'offline', models: ['dall-e-2'] }] });
    try {
      // Ark decides how many images a set holds ("自主判断…组图包含的图片数量"): here 3 of at most 5.
      rig.fake.switches.maxImages = 3;
      const { id, secret } = await createKey(gateway, { quota: 10 * seedream40Credits });
      const before = rig.fake.jobs.length;
      const body = { model: seedream40, prompt: 'four seasons of one garden', size: '1280x720', response_format: 'b64_json', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 5 } };
      const answer = await generateWithKey(gateway, secret, body);
      expect(answer.status).toBe(200);
      expect(answer.body.data).toHaveLength(3);
      const sizes = await Promise.all((answer.body.data as { b64_json: string }[]).map(async (item) => (await sharp(Buffer.from(item.b64_json, 'base64')).metadata()).width));
      expect(sizes).toEqual([1280, 1280, 1280]);
      expect(answer.headers.get('x-imagegate-warnings') ?? '').not.toMatch(/delivered 3 of 5/);
      expect(rig.fake.jobs.length).toBe(before + 1);
      expect(rig.fake.jobs.at(-1)?.body).toMatchObject({ sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 5 } });
      expect(await gateway.gateway.billing.balance(id)).toBe(7 * seedream40Credits);
      const [row] = (await admin(gateway, 'GET', `/usage?key=${id}`)).body.data;
      expect(row).toMatchObject({ model: seedream40, provider: 'volcengine', images_requested: 5, images_delivered: 3, unit: 'image', unit_price: seedream40Credits, amount: 3 * seedream40Credits });

      // The reservation holds the whole set (max_images images): a key with credit for 4 cannot ask for 5.
      const short = await createKey(gateway, { quota: 4 * seedream40Credits });
      const refused = await generateWithKey(gateway, short.secret, body);
      expect([refused.status, refused.body.error?.code]).toEqual([429, 'insufficient_quota']);
      expect(await gateway.gateway.billing.balance(short.id)).toBe(4 * seedream40Credits);
      expect(rig.fake.jobs.length).toBe(before + 1);

      // A model without sets (the offline dall-e-2) refuses one; the reservation is released.
      const offline = await generateWithKey(gateway, secret, { model: 'dall-e-2', size: '256x256', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 2 } });
      expect([offline.status, offline.body.error?.code, offline.body.error?.param]).toEqual([400, 'invalid_value', 'sequential_image_generation']);
      expect(await gateway.gateway.billing.balance(id)).toBe(7 * seedream40Credits);
    } finally {
      await gateway.close();
    }
  });

  it('delivers the rest of a set when Ark refuses one image at its output review, says so, and charges only what came', async () => {
    const gateway = await startBillingGateway({ channels: [arkChannel('ark', rig.fake)] });
    try {
      rig.fake.switches.maxImages = 3;
      rig.fake.switches.moderation = 'output';
      const { id, secret } = await createKey(gateway, { quota: 10 * seedream40Credits });
      const answer = await generateWithKey(gateway, secret, { model: seedream40, prompt: 'three views of a harbour', size: '1280x720', response_format: 'b64_json', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 3 } });
      expect(answer.status).toBe(200);
      expect(answer.body.data).toHaveLength(2);
      expect(answer.headers.get('x-imagegate-warnings') ?? '').toContain('1 image(s) of the set were not delivered (OutputImageSensitiveContentDetected)');
      expect(await gateway.gateway.billing.balance(id)).toBe(8 * seedream40Credits);
    } finally {
      await gateway.close();
    }
  });

  it('refuses n > 1 with a set (400 naming n) and a max_images outside [1, 15] before any call', async () => {
    const before = rig.fake.requests.length;
    const both = await generate(rig.gateway, { model: seedream40, prompt: 'p', n: 3, sequential_image_generation: 'auto' });
    expect(both.status).toBe(400);
    expect(both.body.error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_value', param: 'n' });
    const tooMany = await generate(rig.gateway, { model: seedream40, prompt: 'p', sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 16 } });
    expect([tooMany.status, tooMany.body.error?.param]).toEqual([400, 'sequential_image_generation_options.max_images']);
    expect(rig.fake.requests.length).toBe(before);
  });

  it('edits into a set: the references count against Ark’s 15 (12 references leave room for 3)', async () => {
    const photo = await inputImage(256, 256);
    const answer = await edit(rig.gateway, { model: seedream40, prompt: 'the same cat in three poses', size: '1280x720', sequential_image_generation: 'auto', sequential_image_generation_options: '{"max_images": 6}' }, Array.from({ length: 12 }, () => photo));
    expect(answer.status).toBe(200);
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(3);
    expect(rig.fake.jobs.at(-1)?.inputs).toHaveLength(12);
  });

  it('reserves and asks for only what the references leave of a set: a key with credit for 3 images edits a set of max_images 6 over 12 references', async () => {
    const gateway = await startBillingGateway({ channels: [arkChannel('ark', rig.fake)] });
    try {
      const { id, secret } = await createKey(gateway, { quota: 3 * seedream40Credits });
      const photo = await inputImage(256, 256);
      const fields = { model: seedream40, prompt: 'the same cat in three poses', size: '1280x720', sequential_image_generation: 'auto', sequential_image_generation_options: '{"max_images": 6}' };
      const answer = await edit(gateway, fields, Array.from({ length: 12 }, () => photo), undefined, secret);
      expect(answer.status).toBe(200);
      expect(await imagesOf(gateway, answer)).toHaveLength(3);
      expect(answer.headers.get('x-imagegate-warnings')).toMatch(/max_images lowered from 6 to 3/);
      // Ark was asked for the 3 images its rule allows, not the 6 it would cut to 3.
      expect(rig.fake.jobs.at(-1)?.body).toMatchObject({ sequential_image_generation: 'auto', sequential_image_generation_options: { max_images: 3 } });
      expect(await gateway.gateway.billing.balance(id)).toBe(0);
      const [row] = (await admin(gateway, 'GET', `/usage?key=${id}`)).body.data;
      expect(row).toMatchObject({ operation: 'edit', images_requested: 3, images_delivered: 3, amount: 3 * seedream40Credits });
    } finally {
      await gateway.close();
    }
  });
});

describe('Seedream in /v1/models', () => {
  it('lists the Seedream models served by the volcengine channel, the retired 3.0 as served by 4.0, and BytePlus’s names as aliases', async () => {
    const response = await fetch(`${rig.gateway.url}/v1/models`, { headers: { authorization: `Bearer ${rig.gateway.apiKey}` } });
    const body = (await response.json()) as { data: { id: string; owned_by: string; imagegate: { provider: string; channel: string; alias_of: string | null; served_as: string | null } }[] };
    const byId = new Map(body.data.map((model) => [model.id, model]));
    for (const id of ['doubao-seedream-5-0-260128', 'doubao-seedream-4-5-251128', seedream40]) {
      expect(byId.get(id)).toMatchObject({ owned_by: 'bytedance', imagegate: { provider: 'volcengine', channel: 'ark' } });
    }
    expect(byId.get('doubao-seedream-3-0-t2i-250415')?.imagegate).toMatchObject({ provider: 'volcengine', served_as: seedream40 });
    expect(byId.get('seedream-4-0-250828')?.imagegate).toMatchObject({ alias_of: seedream40, provider: 'volcengine' });
  });
});

describe('Seedream accounts without credit', () => {
  it('fails over from an overdue account (403 AccountOverdueError) to the next channel and marks it out of funds', async () => {
    const [overdue, funded] = [await startVolcengineFake(), await startVolcengineFake()];
    overdue.switches.outOfFunds = true;
    const pair = await startTestGateway({ channels: [arkChannel('ark-overdue', overdue, 5), arkChannel('ark-funded', funded, 0)] });
    try {
      const answer = await generate(pair, { model: seedream40, prompt: 'a lighthouse' });
      expect(answer.status).toBe(200);
      expect(overdue.requests.filter((request) => request.method === 'POST')).toHaveLength(1);
      expect(funded.jobs).toHaveLength(1);
      expect(pair.gateway.router.get('ark-overdue')).toMatchObject({ enabled: false, disabled_reason: 'upstream_out_of_funds' });
    } finally {
      await pair.close();
      await overdue.close();
      await funded.close();
    }
  });
});
