// Base64 images relayed as they came: the gateway answers an upstream's `b64_json` with the very same
// text (never decoded and re-encoded), for small answers and for large ones that it sends as pieces
// without joining them; what it relays is still an image, and a declared length matches the body.

import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendJson, startFakeServer, type FakeServer } from '../../src/testing/fakes/shared.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

let upstream: FakeServer;
let gateway: TestGateway;
/** What the upstream answers, by prompt. */
const answers = new Map<string, string>();

/** A PNG of noise: deflate cannot shrink it, so its base64 is about 4/3 of width × height × 3 bytes. */
async function noisePng(width: number, height: number): Promise<Buffer> {
  return sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toBuffer();
}

beforeAll(async () => {
  answers.set('large', (await noisePng(640, 480)).toString('base64'));
  answers.set('small', (await noisePng(16, 16)).toString('base64'));
  answers.set('not an image', Buffer.from('this is plain text, not a picture at all').toString('base64'));
  upstream = await startFakeServer((request, response) => {
    const prompt = (request.json as { prompt?: string } | undefined)?.prompt ?? '';
    sendJson(response, 200, { created: 1_700_000_000, data: [{ b64_json: answers.get(prompt) ?? '' }], usage: { input_tokens: 5, output_tokens: 50, total_tokens: 55 } });
  });
  gateway = await startTestGateway({
    channels: [{ name: 'relay', provider: 'openai', base_url: `${upstream.url}/v1`, api_key: 'sk-upstream-0123456789', models: ['gpt-image-1'] }],
  });
});

afterAll(async () => {
  await gateway?.close();
  await upstream?.close();
});

async function generate(prompt: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(`${gateway.url}/v1/images/generations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${gateway.apiKey}`, ...headers },
    body: JSON.stringify({ model: 'gpt-image-1', prompt, size: '1024x1024' }),
  });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

describe('b64_json passed through', () => {
  it('answers a large image with the upstream base64 unchanged, its length declared and matching', async () => {
    const expected = answers.get('large') ?? '';
    // Well above the size the gateway sends as one joined buffer.
    expect(expected.length).toBeGreaterThan(512 * 1024);
    const answers4 = await Promise.all([1, 2, 3, 4].map(() => generate('large')));
    for (const answer of answers4) {
      expect(answer.status).toBe(200);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      expect(answer.headers.get('transfer-encoding')).toBeNull();
      expect(Number(answer.headers.get('content-length'))).toBe(Buffer.byteLength(answer.text));
      const body = JSON.parse(answer.text) as { data: Array<{ b64_json?: string }>; size?: string; usage?: unknown };
      expect(body.data[0]?.b64_json).toBe(expected);
      expect(body.size).toBe('1024x1024');
      expect(body.usage).toMatchObject({ output_tokens: 50 });
    }
    const image = await sharp(Buffer.from(expected, 'base64')).metadata();
    expect([image.format, image.width, image.height]).toEqual(['png', 640, 480]);
  });

  it('answers a small image with the upstream base64 unchanged', async () => {
    const answer = await generate('small');
    expect(answer.status).toBe(200);
    expect(Number(answer.headers.get('content-length'))).toBe(Buffer.byteLength(answer.text));
    expect((JSON.parse(answer.text) as { data: Array<{ b64_json?: string }> }).data[0]?.b64_json).toBe(answers.get('small'));
  });

  it('refuses base64 that is not an image instead of relaying it', async () => {
    const answer = await generate('not an image');
    expect(answer.status).toBe(502);
    expect((JSON.parse(answer.text) as { error: { code: string } }).error.code).toBe('upstream_invalid_response');
  });

  it('replays a large image under an Idempotency-Key with the same bytes', async () => {
    const first = await generate('large', { 'idempotency-key': 'passthrough-large-1' });
    const again = await generate('large', { 'idempotency-key': 'passthrough-large-1' });
    expect([first.status, again.status]).toEqual([200, 200]);
    const imageOf = (text: string) => Buffer.from((JSON.parse(text) as { data: Array<{ b64_json: string }> }).data[0]?.b64_json ?? '', 'base64');
    expect(imageOf(first.text).equals(Buffer.from(answers.get('large') ?? '', 'base64'))).toBe(true);
    expect(imageOf(again.text).equals(imageOf(first.text))).toBe(true);
    expect(upstream.requests.filter((request) => (request.json as { prompt?: string } | undefined)?.prompt === 'large')).toHaveLength(5);
  });
});
