// Wire-format tests of the BFL fake: what a raw HTTP client sees for submissions, polls, results and every switch.

import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { manualClock } from '../../core/ports/clock.js';
import { bflFakeApiKey, fakeMain, startBflFake, type BflFake } from './bfl.js';

const key = 'bfl_test_key_123';
const clock = manualClock(1_700_000_000_000);
let fake: BflFake;

beforeEach(async () => {
  fake = await startBflFake({ apiKey: key, clock });
});

afterEach(async () => {
  await fake.close();
});

async function submit(model: string, body: unknown, headers: Record<string, string> = { 'x-key': key }): Promise<{ status: number; json: any; headers: Headers }> {
  const response = await fetch(`${fake.url}/v1/${model}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, json: JSON.parse(text), headers: response.headers };
}

async function poll(pollingUrl: string, headers: Record<string, string> = { 'x-key': key }): Promise<{ status: number; json: any }> {
  const response = await fetch(pollingUrl, { headers });
  return { status: response.status, json: await response.json() };
}

async function pollUntilTerminal(pollingUrl: string): Promise<any[]> {
  const seen: any[] = [];
  for (let attempt = 0; attempt < 20; attempt += 1) {
    const { json } = await poll(pollingUrl);
    seen.push(json);
    if (json.status !== 'Pending') return seen;
  }
  throw new Error('never terminal');
}

describe('BFL fake: happy path', () => {
  it('accepts a flux-pro-1.1 task, polls Pending with progress, then serves a real JPEG of the requested size', async () => {
    const submitted = await submit('flux-pro-1.1', { prompt: 'a red fox in snow', width: 1440, height: 800, seed: 7 });
    expect(submitted.status).toBe(200);
    expect(typeof submitted.json.id).toBe('string');
    expect(submitted.json.cost).toBe(4);
    const pollingUrl = new URL(submitted.json.polling_url);
    // A different spelling of the fake's own host, like BFL's shard hosts.
    expect(pollingUrl.hostname).toBe('localhost');
    expect(pollingUrl.hostname).not.toBe(new URL(fake.url).hostname);
    expect(pollingUrl.pathname).toBe('/v1/get_result');
    expect(pollingUrl.searchParams.get('id')).toBe(submitted.json.id);

    const seen = await pollUntilTerminal(submitted.json.polling_url);
    expect(seen.map((entry) => entry.status)).toEqual(['Pending', 'Pending', 'Ready']);
    expect(seen[0].progress).toBeGreaterThan(0);
    expect(seen[1].progress).toBeGreaterThan(seen[0].progress);
    const ready = seen[2];
    expect(ready.result.seed).toBe(7);
    expect(ready.result.sample).toMatch(/\/sample\.jpg\?se=.+&sp=r&sig=[0-9a-f]+$/);

    const image = await fetch(ready.result.sample);
    expect(image.status).toBe(200);
    expect(image.headers.get('content-type')).toBe('image/jpeg');
    const metadata = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect(metadata).toMatchObject({ format: 'jpeg', width: 1440, height: 800 });
    expect(fake.submissions).toBe(1);
    expect(fake.polls).toBe(3);
  });

  it('honours pollsBeforeReady and output_format png', async () => {
    fake.switches.pollsBeforeReady = 0;
    const submitted = await submit('flux-dev', { prompt: 'p', output_format: 'png' });
    const { json } = await poll(submitted.json.polling_url);
    expect(json.status).toBe('Ready');
    const image = await fetch(json.result.sample);
    const metadata = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    // flux-dev's default size is 1024 × 768.
    expect(metadata).toMatchObject({ format: 'png', width: 1024, height: 768 });
  });

  it('renders kontext at about 1 MP in the requested aspect ratio, PNG by default', async () => {
    fake.switches.pollsBeforeReady = 0;
    const submitted = await submit('flux-kontext-pro', { prompt: 'p', aspect_ratio: '21:9' });
    expect(submitted.status).toBe(200);
    const { json } = await poll(submitted.json.polling_url);
    const image = await fetch(json.result.sample);
    const metadata = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect(metadata.format).toBe('png');
    expect((metadata.width ?? 0) / (metadata.height ?? 1)).toBeCloseTo(21 / 9, 1);
    expect((metadata.width ?? 0) * (metadata.height ?? 0)).toBeGreaterThan(0.9 * 1024 * 1024);
    expect((metadata.width ?? 0) * (metadata.height ?? 0)).toBeLessThan(1.1 * 1024 * 1024);
  });

  it('renders FLUX.2 at the input image size when width and height are left at auto', async () => {
    fake.switches.pollsBeforeReady = 0;
    const input = await sharp({ create: { width: 320, height: 192, channels: 3, background: '#336699' } }).png().toBuffer();
    const submitted = await submit('flux-2-pro', { prompt: 'p', input_image: input.toString('base64') });
    expect(submitted.status).toBe(200);
    const { json } = await poll(submitted.json.polling_url);
    const metadata = await sharp(Buffer.from(await (await fetch(json.result.sample)).arrayBuffer())).metadata();
    expect(metadata).toMatchObject({ width: 320, height: 192 });
  });
});

describe('BFL fake: authentication', () => {
  it('answers 403 with a FastAPI detail for a missing or wrong x-key, on submit and on poll', async () => {
    const missing = await submit('flux-pro-1.1', { prompt: 'p' }, {});
    expect(missing.status).toBe(403);
    expect(missing.json).toEqual({ detail: 'Not authenticated' });
    const wrong = await submit('flux-pro-1.1', { prompt: 'p' }, { 'x-key': 'nope' });
    expect(wrong.status).toBe(403);
    expect(typeof wrong.json.detail).toBe('string');

    const submitted = await submit('flux-pro-1.1', { prompt: 'p' });
    const unauthenticatedPoll = await poll(submitted.json.polling_url, {});
    expect(unauthenticatedPoll.status).toBe(403);
    expect(fake.submissions).toBe(1);
  });

  it('uses a default key when none is configured', async () => {
    const other = await startBflFake();
    try {
      const response = await fetch(`${other.url}/v1/flux-dev`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-key': bflFakeApiKey }, body: '{"prompt":"p"}' });
      expect(response.status).toBe(200);
    } finally {
      await other.close();
    }
  });
});

describe('BFL fake: validation (FastAPI 422 detail arrays)', () => {
  const cases: [string, string, Record<string, unknown>, string, string][] = [
    ['missing prompt', 'flux-pro-1.1', { width: 1024, height: 768 }, 'prompt', 'missing'],
    ['width above 1440', 'flux-pro-1.1', { prompt: 'p', width: 2048, height: 768 }, 'width', 'less_than_equal'],
    ['width below 256', 'flux-dev', { prompt: 'p', width: 128, height: 768 }, 'width', 'greater_than_equal'],
    ['height not a multiple of 32', 'flux-pro', { prompt: 'p', width: 1024, height: 1000 }, 'height', 'multiple_of'],
    ['FLUX.2 width not a multiple of 16', 'flux-2-pro', { prompt: 'p', width: 1000, height: 1024 }, 'width', 'multiple_of'],
    ['safety_tolerance above 6', 'flux-kontext-pro', { prompt: 'p', safety_tolerance: 7 }, 'safety_tolerance', 'less_than_equal'],
    ['FLUX.2 safety_tolerance above 5', 'flux-2-max', { prompt: 'p', safety_tolerance: 6 }, 'safety_tolerance', 'less_than_equal'],
    ['aspect_ratio wider than 21:9', 'flux-kontext-max', { prompt: 'p', aspect_ratio: '3:1' }, 'aspect_ratio', 'value_error'],
    ['ultra aspect_ratio taller than 9:21', 'flux-pro-1.1-ultra', { prompt: 'p', aspect_ratio: '1:3' }, 'aspect_ratio', 'value_error'],
    ['output_format webp', 'flux-pro-1.1', { prompt: 'p', output_format: 'webp' }, 'output_format', 'enum'],
  ];
  it.each(cases)('%s', async (_name, model, body, field, type) => {
    const response = await submit(model, body);
    expect(response.status).toBe(422);
    expect(Array.isArray(response.json.detail)).toBe(true);
    expect(response.json.detail[0]).toMatchObject({ loc: ['body', field], type });
    expect(typeof response.json.detail[0].msg).toBe('string');
    expect(fake.submissions).toBe(0);
  });

  it('rejects FLUX.2 sizes above 4 MP', async () => {
    const response = await submit('flux-2-pro', { prompt: 'p', width: 2048, height: 2064 });
    expect(response.status).toBe(422);
    expect(response.json.detail[0].msg).toContain('4 MP');
  });

  it('answers 404 for a model BFL does not have', async () => {
    const response = await submit('flux-imaginary', { prompt: 'p' });
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ detail: 'Not Found' });
  });
});

describe('BFL fake: limits and switches', () => {
  it('answers 429 once 24 tasks are active, and accepts again when one finishes', async () => {
    fake.switches.pollsBeforeReady = 0;
    const accepted = [];
    for (let index = 0; index < 24; index += 1) accepted.push(await submit('flux-dev', { prompt: `p${index}` }));
    expect(accepted.every((entry) => entry.status === 200)).toBe(true);
    const refused = await submit('flux-dev', { prompt: 'one too many' });
    expect(refused.status).toBe(429);
    expect(typeof refused.json.detail).toBe('string');
    await poll(accepted[0]!.json.polling_url);
    expect((await submit('flux-dev', { prompt: 'now fits' })).status).toBe(200);
  });

  it.each([
    [402, 'Insufficient credits'],
    [500, 'Internal Server Error'],
    [503, 'Service Unavailable'],
  ])('failStatus %i answers with a detail body', async (status, detail) => {
    fake.switches.failStatus = status;
    const response = await submit('flux-pro-1.1', { prompt: 'p' });
    expect(response.status).toBe(status);
    expect(response.json.detail).toContain(detail);
    expect(fake.submissions).toBe(0);
  });

  it('failStatus 429 sends retry-after when asked', async () => {
    fake.switches.failStatus = 429;
    fake.switches.retryAfterSeconds = 7;
    const response = await submit('flux-pro-1.1', { prompt: 'p' });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
  });

  it('failStatus 422 answers a FastAPI detail array', async () => {
    fake.switches.failStatus = 422;
    const response = await submit('flux-pro-1.1', { prompt: 'p' });
    expect(response.status).toBe(422);
    expect(response.json.detail[0].loc).toEqual(['body']);
  });

  it('input moderation ends the task as Request Moderated with reasons on the first poll', async () => {
    fake.switches.moderation = 'input';
    const submitted = await submit('flux-kontext-pro', { prompt: 'p' });
    const { json } = await poll(submitted.json.polling_url);
    expect(json).toMatchObject({ status: 'Request Moderated', result: null });
    expect(json.details['Moderation Reasons']).toEqual(['Derivative Works Filter']);
  });

  it('output moderation ends the task as Content Moderated after the pending polls', async () => {
    fake.switches.moderation = 'output';
    const submitted = await submit('flux-pro-1.1', { prompt: 'p' });
    const seen = await pollUntilTerminal(submitted.json.polling_url);
    expect(seen.map((entry) => entry.status)).toEqual(['Pending', 'Pending', 'Content Moderated']);
    expect(seen[2].details['Moderation Reasons']).toEqual(['Sexual Content']);
  });

  it('taskError ends the task as Error with details', async () => {
    fake.switches.taskError = 'GPU fell over';
    fake.switches.pollsBeforeReady = 0;
    const submitted = await submit('flux-pro-1.1', { prompt: 'p' });
    const { json } = await poll(submitted.json.polling_url);
    expect(json).toMatchObject({ status: 'Error', result: null, details: 'GPU fell over' });
  });

  it('answers Task not found for an unknown id', async () => {
    const { status, json } = await poll(`${fake.url}/v1/get_result?id=does-not-exist`);
    expect(status).toBe(200);
    expect(json).toMatchObject({ id: 'does-not-exist', status: 'Task not found', result: null });
  });

  it('malformed answers truncated JSON', async () => {
    fake.switches.malformed = true;
    const response = await fetch(`${fake.url}/v1/flux-pro-1.1`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-key': key }, body: '{"prompt":"p"}' });
    expect(response.status).toBe(200);
    await expect(response.json()).rejects.toThrow();
  });

  it('maxImages 0 finishes Ready without a sample', async () => {
    fake.switches.maxImages = 0;
    fake.switches.pollsBeforeReady = 0;
    const submitted = await submit('flux-pro-1.1', { prompt: 'p' });
    const { json } = await poll(submitted.json.polling_url);
    expect(json.status).toBe('Ready');
    expect(json.result.sample).toBeUndefined();
  });

  it('result URLs answer 403 Azure-style once resultUrlTtlMs has passed', async () => {
    fake.switches.pollsBeforeReady = 0;
    fake.switches.resultUrlTtlMs = 60_000;
    const submitted = await submit('flux-pro-1.1', { prompt: 'p' });
    const { json } = await poll(submitted.json.polling_url);
    expect((await fetch(json.result.sample)).status).toBe(200);
    clock.advance(60_000);
    const expired = await fetch(json.result.sample);
    expect(expired.status).toBe(403);
    expect(expired.headers.get('x-ms-error-code')).toBe('AuthenticationFailed');
    expect(await expired.text()).toContain('<Code>AuthenticationFailed</Code>');
    const tampered = await fetch(json.result.sample.replace(/sig=[0-9a-f]+/, 'sig=00'));
    expect(tampered.status).toBe(403);
  });

  it('hang never answers, so the client has to give up', async () => {
    fake.switches.hang = true;
    const controller = new AbortController();
    const pending = fetch(`${fake.url}/v1/flux-pro-1.1`, { method: 'POST', headers: { 'x-key': key }, body: '{}', signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toThrow();
    expect(fake.submissions).toBe(0);
  });

  it('latencyMs still answers', async () => {
    fake.switches.latencyMs = 5;
    expect((await submit('flux-dev', { prompt: 'p' })).status).toBe(200);
  });
});

describe('BFL fake: fakeMain', () => {
  it('starts a fake on the requested port with the given switches', async () => {
    const server = await fakeMain({ port: 0, apiKey: 'k', switches: { failStatus: 503 } });
    try {
      const response = await fetch(`${server.url}/v1/flux-dev`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-key': 'k' }, body: '{"prompt":"p"}' });
      expect(response.status).toBe(503);
    } finally {
      await server.close();
    }
  });
});
