// Wire-format tests of the Stability fake with a plain fetch: content negotiation, validation and switches.

import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fakeMain, stabilityFakeDefaultApiKey, startStabilityFake, type StabilityFake } from './stability.js';
import type { FakeServer } from './shared.js';

let fake: StabilityFake;

beforeEach(async () => {
  fake = await startStabilityFake();
});
afterEach(async () => {
  await fake.close();
});

function form(fields: Record<string, string>): FormData {
  const body = new FormData();
  for (const [name, value] of Object.entries(fields)) body.set(name, value);
  return body;
}

async function post(path: string, body: FormData | string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${fake.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stabilityFakeDefaultApiKey}`, accept: 'image/*', ...headers },
    body,
  });
}

describe('Stability fake', () => {
  it('answers Accept image/* with raw bytes and finish-reason/seed headers, sized by aspect ratio', async () => {
    const response = await post('/v2beta/stable-image/generate/core', form({ prompt: 'tall tower', aspect_ratio: '9:21', output_format: 'jpeg', seed: '99' }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/jpeg');
    expect(response.headers.get('finish-reason')).toBe('SUCCESS');
    expect(response.headers.get('seed')).toBe('99');
    const metadata = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(['jpeg', 640, 1536]);
  });

  it('answers Accept application/json with base64 image, finish_reason and seed', async () => {
    fake.switches.moderation = 'output';
    const response = await post('/v2beta/stable-image/generate/ultra', form({ prompt: 'p' }), { accept: 'application/json' });
    expect(response.headers.get('content-type')).toBe('application/json; type=image/png');
    const body = (await response.json()) as { image: string; finish_reason: string; seed: number };
    expect(body.finish_reason).toBe('CONTENT_FILTERED');
    expect(typeof body.seed).toBe('number');
    expect((await sharp(Buffer.from(body.image, 'base64')).metadata()).format).toBe('png');
  });

  it('rejects a JSON body, a missing Accept, a missing prompt and an unknown aspect ratio with bad_request', async () => {
    const json = await post('/v2beta/stable-image/generate/core', JSON.stringify({ prompt: 'p' }), { 'content-type': 'application/json' });
    expect(json.status).toBe(400);
    expect(((await json.json()) as { name: string }).name).toBe('bad_request');

    const noAccept = await fetch(`${fake.url}/v2beta/stable-image/generate/core`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stabilityFakeDefaultApiKey}`, accept: '' },
      body: form({ prompt: 'p' }),
    });
    expect(noAccept.status).toBe(400);

    const noPrompt = await post('/v2beta/stable-image/generate/sd3', form({ aspect_ratio: '7:5' }));
    const problems = (await noPrompt.json()) as { name: string; errors: string[] };
    expect(noPrompt.status).toBe(400);
    expect(problems.errors.some((message) => message.startsWith('prompt'))).toBe(true);
    expect(problems.errors.some((message) => message.startsWith('aspect_ratio'))).toBe(true);
    expect(fake.submissions).toHaveLength(0);
  });

  it('answers a wrong key with 401 and a flagged prompt with 403 content_moderation', async () => {
    const unauthorized = await post('/v2beta/stable-image/generate/core', form({ prompt: 'p' }), { authorization: 'Bearer nope' });
    expect(unauthorized.status).toBe(401);
    fake.switches.moderation = 'input';
    const flagged = await post('/v2beta/stable-image/generate/core', form({ prompt: 'p' }));
    expect(flagged.status).toBe(403);
    expect(((await flagged.json()) as { name: string }).name).toBe('content_moderation');
  });

  it('starts from fakeMain with switches and key from the command line', async () => {
    const server: FakeServer = await fakeMain({ port: 0, apiKey: 'sk-cli', switches: { failStatus: 429, retryAfterSeconds: 5 } });
    try {
      const response = await fetch(`${server.url}/v2beta/stable-image/generate/core`, {
        method: 'POST',
        headers: { authorization: 'Bearer sk-cli', accept: 'image/*' },
        body: form({ prompt: 'p' }),
      });
      expect(response.status).toBe(429);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(((await response.json()) as { name: string }).name).toBe('rate_limit_exceeded');
    } finally {
      await server.close();
    }
  });
});
