// Proves the Replicate fake speaks Replicate's wire format by driving it with the official `replicate` SDK.

import Replicate from 'replicate';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { replicateFakeDefaultApiKey, replicateNsfwError, startReplicateFake, type ReplicateFake } from './replicate.js';

let fake: ReplicateFake;
let client: Replicate;

beforeAll(async () => {
  fake = await startReplicateFake();
  client = new Replicate({ auth: replicateFakeDefaultApiKey, baseUrl: `${fake.url}/v1`, useFileOutput: false });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

async function imageAt(url: string): Promise<sharp.Metadata> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return sharp(Buffer.from(await response.arrayBuffer())).metadata();
}

describe('Replicate fake, driven by the official SDK', () => {
  it('runs an official model with Prefer: wait and returns an array of image URLs in the asked ratio', async () => {
    const output = await client.run('black-forest-labs/flux-schnell', {
      input: { prompt: 'a red fox', num_outputs: 2, aspect_ratio: '16:9', output_format: 'png', megapixels: '0.25' },
    });
    expect(Array.isArray(output)).toBe(true);
    const urls = output as string[];
    expect(urls).toHaveLength(2);
    const metadata = await imageAt(urls[0] ?? '');
    expect(metadata.format).toBe('png');
    expect((metadata.width ?? 0) / (metadata.height ?? 1)).toBeCloseTo(16 / 9, 1);

    const create = fake.requests.find((request) => request.method === 'POST');
    expect(create?.path).toBe('/v1/models/black-forest-labs/flux-schnell/predictions');
    expect(create?.headers['prefer']).toBe('wait');
    expect(create?.headers['authorization']).toBe(`Bearer ${replicateFakeDefaultApiKey}`);
  });

  it('returns a single URL string for models whose output is one file', async () => {
    const output = await client.run('black-forest-labs/flux-1.1-pro', { input: { prompt: 'a lighthouse', output_format: 'jpg', megapixels: '0.25' } });
    expect(typeof output).toBe('string');
    expect((await imageAt(output as unknown as string)).format).toBe('jpeg');
  });

  it('accepts the owner/name:version form on /v1/predictions', async () => {
    const version = 'a'.repeat(64);
    const output = await client.run(`black-forest-labs/flux-schnell:${version}`, { input: { prompt: 'a boat', megapixels: '0.25' } });
    expect((output as string[]).length).toBe(1);
    const create = fake.requests.filter((request) => request.method === 'POST').at(-1);
    expect(create?.path).toBe('/v1/predictions');
    expect(create?.json).toMatchObject({ version, input: { prompt: 'a boat' } });
  });

  it('reports starting, then processing, until the prediction succeeds when polled', async () => {
    fake.switches.pollsBeforeReady = 3;
    const created = await client.predictions.create({ model: 'black-forest-labs/flux-dev', input: { prompt: 'a hill', megapixels: '0.25' }, wait: 5 });
    expect(created.status).toBe('starting');
    expect(fake.requests.at(-1)?.headers['prefer']).toBe('wait=5');
    const seen: string[] = [];
    const finished = await client.wait(created, { interval: 5 }, async (update) => {
      seen.push(update.status);
      return false;
    });
    expect(finished.status).toBe('succeeded');
    expect(seen).toContain('processing');
    expect(finished.urls.get).toBe(`${fake.url}/v1/predictions/${created.id}`);
  });

  it('cancels a running prediction through urls.cancel', async () => {
    fake.switches.pollsBeforeReady = 50;
    const created = await client.predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'a cloud' } });
    const canceled = await client.predictions.cancel(created.id);
    expect(canceled.status).toBe('canceled');
    expect(fake.cancels).toBe(1);
  });

  it('fails the prediction with the NSFW message when the output is moderated', async () => {
    fake.switches.moderation = 'output';
    await expect(client.run('black-forest-labs/flux-schnell', { input: { prompt: 'something' } })).rejects.toThrow(replicateNsfwError);
  });

  it('returns fewer outputs than num_outputs when maxImages is set', async () => {
    fake.switches.maxImages = 1;
    const output = await client.run('black-forest-labs/flux-schnell', { input: { prompt: 'three cats', num_outputs: 3, megapixels: '0.25' } });
    expect(output as string[]).toHaveLength(1);
  });

  it('rejects a wrong token with 401 and invalid input with a 422 problem body', async () => {
    const intruder = new Replicate({ auth: 'r8_wrong', baseUrl: `${fake.url}/v1` });
    await expect(intruder.predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'x' } })).rejects.toMatchObject({
      response: { status: 401 },
    });
    const error = await client.predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'x', aspect_ratio: '7:3' } }).catch((caught: unknown) => caught);
    const response = (error as { response: Response }).response;
    expect(response.status).toBe(422);
    expect(String((error as Error).message)).toContain('aspect_ratio must be one of the following');
  });

  // Issue 10 items 1, 2, 8: each model's own input schema (replicate.com/…/versions/…/api).
  it.each([
    ['black-forest-labs/flux-1.1-pro', { aspect_ratio: '21:9' }, 'aspect_ratio must be one of the following: "custom", "1:1"'],
    ['black-forest-labs/flux-1.1-pro-ultra', { output_format: 'webp' }, 'output_format must be one of the following: "jpg", "png"'],
    ['black-forest-labs/flux-kontext-pro', { output_format: 'webp' }, 'output_format must be one of the following: "jpg", "png"'],
    ['black-forest-labs/flux-schnell', { megapixels: '4' }, 'megapixels must be one of the following: "1", "0.25"'],
  ] as const)('refuses what %s’s schema does not allow: %j', async (model, input, message) => {
    const error = await client.predictions.create({ model, input: { prompt: 'x', ...input } }).catch((caught: unknown) => caught);
    expect((error as { response: Response }).response.status).toBe(422);
    // The SDK quotes the problem body as JSON text, so its quotes arrive escaped.
    expect(String((error as Error).message).replaceAll('\\"', '"')).toContain(message);
  });

  it('renders flux-1.1-pro at the exact custom width and height, rounded to multiples of 32', async () => {
    const output = await client.run('black-forest-labs/flux-1.1-pro', { input: { prompt: 'x', aspect_ratio: 'custom', width: 832, height: 1216, output_format: 'png' } });
    const metadata = await imageAt(output as unknown as string);
    expect([metadata.width, metadata.height]).toEqual([832, 1216]);
  });

  it('answers 404 for a model it does not know', async () => {
    await expect(client.predictions.create({ model: 'nobody/nothing', input: { prompt: 'x' } })).rejects.toMatchObject({ response: { status: 404 } });
  });

  it('stops serving outputs and reports data_removed once the result TTL has passed', async () => {
    // Long enough for the create answer to be built before it lapses (at 1 ms a loaded machine built it
    // after the TTL, and the answer itself already said data_removed), short enough to wait out.
    fake.switches.resultUrlTtlMs = 500;
    const created = await client.predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'a tree', megapixels: '0.25' }, wait: true });
    const url = (created.output as string[])[0] ?? '';
    expect(url).toMatch(/^http/);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect((await fetch(url)).status).toBe(404);
    const later = await client.predictions.get(created.id);
    expect(later.data_removed).toBe(true);
    expect(later.output).toBeNull();
  });
});
