// Proves the fal fake speaks fal's queue wire format by driving it with the official `@fal-ai/client` SDK.

import { ApiError, createFalClient, type FalClient, ValidationError } from '@fal-ai/client';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { falContentPolicyMessage, falFakeDefaultApiKey, startFalFake, type FalFake } from './fal.js';

let fake: FalFake;
let client: FalClient;

interface FluxOutput {
  images: { url: string; width: number; height: number; content_type: string }[];
  has_nsfw_concepts: boolean[];
  seed: number;
}

/** The SDK builds https://queue.fal.run/… itself; the request middleware points it at the fake instead. */
function clientFor(credentials: string): FalClient {
  return createFalClient({
    credentials,
    retry: { maxRetries: 0 },
    requestMiddleware: async (request) => ({ ...request, url: request.url.replace('https://queue.fal.run', fake.url) }),
  });
}

beforeAll(async () => {
  fake = await startFalFake();
  client = clientFor(falFakeDefaultApiKey);
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof typeof fake.switches];
});

describe('fal fake, driven by the official client', () => {
  it('runs fal.subscribe to completion and serves real images of the asked size', async () => {
    fake.switches.pollsBeforeReady = 3;
    const statuses: string[] = [];
    const result = await client.subscribe('fal-ai/flux/dev', {
      input: { prompt: 'a red fox', image_size: { width: 320, height: 240 }, num_images: 2, output_format: 'png' },
      pollInterval: 5,
      onQueueUpdate: (update) => statuses.push(update.status),
    });
    const data = result.data as FluxOutput;
    expect(result.requestId).not.toBe('');
    expect(data.images).toHaveLength(2);
    expect(data.has_nsfw_concepts).toEqual([false, false]);
    expect(statuses).toEqual(expect.arrayContaining(['IN_QUEUE', 'IN_PROGRESS', 'COMPLETED']));
    const image = await fetch(data.images[0]?.url ?? '');
    const metadata = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect(metadata).toMatchObject({ format: 'png', width: 320, height: 240 });

    // Submit keeps the subpath; status and result drop it, as the real queue does.
    const paths = fake.requests.map((request) => `${request.method} ${request.path.split('?')[0]}`);
    expect(paths[0]).toBe('POST /fal-ai/flux/dev');
    expect(paths).toContain(`GET /fal-ai/flux/requests/${result.requestId}/status`);
    expect(paths).toContain(`GET /fal-ai/flux/requests/${result.requestId}`);
    expect(fake.requests[0]?.headers['authorization']).toBe(`Key ${falFakeDefaultApiKey}`);
  });

  it('answers queue.submit with the four queue URLs and resolves presets on result', async () => {
    const submitted = await client.queue.submit('fal-ai/flux/schnell', { input: { prompt: 'a boat', image_size: 'square' } });
    expect(submitted.status_url).toBe(`${fake.url}/fal-ai/flux/requests/${submitted.request_id}/status`);
    expect(submitted.response_url).toBe(`${fake.url}/fal-ai/flux/requests/${submitted.request_id}`);
    expect(submitted.cancel_url).toBe(`${fake.url}/fal-ai/flux/requests/${submitted.request_id}/cancel`);
    const status = await client.queue.status('fal-ai/flux/schnell', { requestId: submitted.request_id, logs: false });
    expect(status.status).toBe('COMPLETED');
    const result = await client.queue.result('fal-ai/flux/schnell', { requestId: submitted.request_id });
    expect((result.data as FluxOutput).images[0]).toMatchObject({ width: 512, height: 512, content_type: 'image/jpeg' });
  });

  it('flags output moderation with has_nsfw_concepts and a black image', async () => {
    fake.switches.moderation = 'output';
    const result = await client.subscribe('fal-ai/flux/schnell', { input: { prompt: 'x', image_size: { width: 64, height: 64 } }, pollInterval: 5 });
    const data = result.data as FluxOutput;
    expect(data.has_nsfw_concepts).toEqual([true]);
    const image = await fetch(data.images[0]?.url ?? '');
    const stats = await sharp(Buffer.from(await image.arrayBuffer())).stats();
    expect(stats.channels.every((channel) => channel.max <= 8)).toBe(true);
  });

  it('surfaces input moderation as a 422 content_policy_violation on the result fetch', async () => {
    fake.switches.moderation = 'input';
    const error = await client.subscribe('fal-ai/flux/schnell', { input: { prompt: 'x' }, pollInterval: 5 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    const validation = error as ValidationError;
    expect(validation.status).toBe(422);
    expect(validation.fieldErrors[0]).toMatchObject({ type: 'content_policy_violation', msg: falContentPolicyMessage, loc: ['body', 'prompt'] });
  });

  it('returns data URIs in sync_mode and fewer images under maxImages', async () => {
    fake.switches.maxImages = 1;
    const result = await client.subscribe('fal-ai/flux/schnell', {
      input: { prompt: 'x', num_images: 3, sync_mode: true, image_size: { width: 64, height: 48 } },
      pollInterval: 5,
    });
    const images = (result.data as FluxOutput).images;
    expect(images).toHaveLength(1);
    expect(images[0]?.url.startsWith('data:image/jpeg;base64,')).toBe(true);
  });

  it('cancels a queued request, and refuses to cancel a completed one', async () => {
    fake.switches.pollsBeforeReady = 20;
    const queued = await client.queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } });
    await client.queue.cancel('fal-ai/flux/dev', { requestId: queued.request_id });
    expect(fake.jobs.get(queued.request_id)?.canceled).toBe(true);

    fake.switches.pollsBeforeReady = 0;
    const done = await client.subscribe('fal-ai/flux/dev', { input: { prompt: 'x', image_size: { width: 64, height: 64 } }, pollInterval: 5 });
    await expect(client.queue.cancel('fal-ai/flux/dev', { requestId: done.requestId })).rejects.toMatchObject({ status: 400, body: { status: 'ALREADY_COMPLETED' } });
    expect(fake.cancels).toBe(2);
  });

  it('rejects a wrong key with 401, throttles with 429 and retry-after, and validates input', async () => {
    await expect(clientFor('wrong:key').queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } })).rejects.toMatchObject({ status: 401 });

    fake.switches.failStatus = 429;
    fake.switches.retryAfterSeconds = 7;
    // The SDK retries a 429 on submit with second-long backoffs whatever it is told, so read it raw.
    const raw = await fetch(`${fake.url}/fal-ai/flux/dev`, {
      method: 'POST',
      headers: { authorization: `Key ${falFakeDefaultApiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'x' }),
    });
    expect(raw.status).toBe(429);
    expect(raw.headers.get('retry-after')).toBe('7');
    expect(await raw.json()).toHaveProperty('detail');
    delete fake.switches.failStatus;

    const error = await client.subscribe('fal-ai/flux/dev', { input: { prompt: 'x', num_images: 9 }, pollInterval: 5 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).getFieldErrors('num_images')).toHaveLength(1);
  });

  it('has no num_images on fal-ai/flux-2-pro: one image whatever is sent (fal-js Flux2ProInput)', async () => {
    const result = await client.subscribe('fal-ai/flux-2-pro', { input: { prompt: 'x', image_size: { width: 256, height: 256 } }, pollInterval: 5 });
    expect((result.data as FluxOutput).images).toHaveLength(1);
  });

  it('answers an account without credit with 403 "User is locked. Reason: Exhausted balance" (fal-ai/fal#1112, #1147)', async () => {
    fake.switches.outOfFunds = true;
    const error = await client.queue.submit('fal-ai/flux/dev', { input: { prompt: 'x' } }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 403, body: { detail: expect.stringContaining('User is locked. Reason: Exhausted balance') } });
  });
});
