// Hosted results behind signed, expiring URLs, fetched over real HTTP with no API key: headers,
// conditional requests, tampering, expiry, unknown blobs, and which base the URL is built on.
// That a half-written image is never served is the blob store's atomic write, proven for every
// store by the BlobStore conformance suite ("never shows a reader part of an object while the same
// key is written concurrently", src/testing/conformance/blob-store.conformance.ts), run for the disk
// store in src/storage/blob/local/local-blob-store.test.ts.

import { request as httpRequest } from 'node:http';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/core/ports/clock.js';
import { createUrlSigner } from '../../src/core/signed-urls.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

const signingSecret = 'signed-urls-test-secret-0123456789';
const ttlSeconds = 600;
const clock = manualClock();
let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway({ signingSecret, urlTtlSeconds: ttlSeconds }, { clock });
});
afterAll(async () => gateway.close());

interface ImagesBody {
  data: Array<{ url?: string; b64_json?: string }>;
}

async function generateUrl(body: Record<string, unknown> = {}, headers: Record<string, string> = {}, target: TestGateway = gateway): Promise<string> {
  const response = await fetch(`${target.url}/v1/images/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${target.apiKey}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model: 'dall-e-2', prompt: 'a signed lighthouse', size: '256x256', response_format: 'url', ...body }),
  });
  expect(response.status).toBe(200);
  const url = ((await response.json()) as ImagesBody).data[0]?.url;
  expect(url).toBeTypeOf('string');
  return url as string;
}

/** A request with a Host header fetch would not let us choose. */
function requestWithHost(url: string, init: { method?: string; headers: Record<string, string>; body?: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method: init.method ?? 'GET', headers: init.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(init.body);
  });
}

async function expectForbidden(url: string, messagePattern: RegExp): Promise<void> {
  const response = await fetch(url);
  expect(response.status).toBe(403);
  expect(response.headers.get('x-request-id')).toMatch(/^req_/);
  const body = (await response.json()) as { error: Record<string, unknown> };
  expect(body.error).toEqual({ message: expect.stringMatching(messagePattern), type: 'invalid_request_error', param: null, code: 'invalid_signature' });
}

describe('a valid signed URL', () => {
  it('serves the image without an API key, with content type, etag, cache and modification headers', async () => {
    const url = await generateUrl();
    expect(url.startsWith(`${gateway.url}/v1/files/`)).toBe(true);
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(response.headers.get('etag')).toMatch(/^"[0-9a-f]{64}"$/);
    expect(response.headers.get('cache-control')).toMatch(/^private, max-age=\d+/);
    const maxAge = Number(/max-age=(\d+)/.exec(response.headers.get('cache-control') ?? '')?.[1]);
    // The cache may keep it no longer than the link lives.
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(ttlSeconds);
    expect(Number.isNaN(Date.parse(response.headers.get('last-modified') ?? ''))).toBe(false);
    const bytes = Buffer.from(await response.arrayBuffer());
    expect(Number(response.headers.get('content-length'))).toBe(bytes.length);
    const meta = await sharp(bytes).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 256, 256]);
  });

  it('serves JPEG and WebP results with their own content type', async () => {
    for (const [format, type] of [['jpeg', 'image/jpeg'], ['webp', 'image/webp']] as const) {
      const response = await fetch(await generateUrl({ model: 'gpt-image-1', size: '1024x1024', output_format: format }));
      expect(response.headers.get('content-type')).toBe(type);
      expect((await sharp(Buffer.from(await response.arrayBuffer())).metadata()).format).toBe(format);
    }
  });

  it('answers 304 with no body to If-None-Match carrying the etag', async () => {
    const url = await generateUrl();
    const first = await fetch(url);
    const etag = first.headers.get('etag') ?? '';
    await first.arrayBuffer();
    const second = await fetch(url, { headers: { 'if-none-match': etag } });
    expect(second.status).toBe(304);
    expect((await second.arrayBuffer()).byteLength).toBe(0);
    expect(second.headers.get('etag')).toBe(etag);
    const other = await fetch(url, { headers: { 'if-none-match': '"not-the-etag"' } });
    expect(other.status).toBe(200);
    await other.arrayBuffer();
    // Caches send weak tags and lists too.
    expect((await fetch(url, { headers: { 'if-none-match': `"other", W/${etag}` } })).status).toBe(304);
  });

  it('answers HEAD with the headers and no body', async () => {
    const url = await generateUrl();
    const response = await fetch(url, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Number(response.headers.get('content-length'))).toBeGreaterThan(0);
    expect((await response.arrayBuffer()).byteLength).toBe(0);
  });
});

describe('a URL that is not valid', () => {
  it('answers 403 invalid_signature to a tampered signature', async () => {
    const url = new URL(await generateUrl());
    const signature = url.searchParams.get('signature') ?? '';
    url.searchParams.set('signature', (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1));
    await expectForbidden(url.toString(), /invalid signature/);
    url.searchParams.delete('signature');
    await expectForbidden(url.toString(), /invalid signature/);
  });

  it('answers 403 to a tampered key path', async () => {
    const url = new URL(await generateUrl());
    url.pathname = url.pathname.replace(/[0-9a-f](\.png)$/, (match, extension: string) => (match[0] === '0' ? '1' : '0') + extension);
    await expectForbidden(url.toString(), /invalid signature/);
    url.pathname = url.pathname.replace(/\.png$/, '.webp');
    await expectForbidden(url.toString(), /invalid signature/);
  });

  it('answers 403 to a tampered expiry', async () => {
    const url = new URL(await generateUrl());
    url.searchParams.set('expires', String(Number(url.searchParams.get('expires')) + 86_400));
    await expectForbidden(url.toString(), /invalid signature/);
  });

  it('answers 403 once the link has expired, and the same link worked before', async () => {
    const url = await generateUrl();
    const fetched = await fetch(url);
    await fetched.arrayBuffer();
    expect(fetched.status).toBe(200);
    clock.advance((ttlSeconds + 1) * 1000);
    await expectForbidden(url, /expired/);
  });

  it('answers 404 to a validly signed link to a blob that does not exist', async () => {
    const signer = createUrlSigner({ secret: signingSecret, defaultTtlSeconds: ttlSeconds, clock });
    const response = await fetch(gateway.url + signer.sign('images/2030-01-01/00000000-0000-4000-8000-000000000000.png').path);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});

describe('the base of hosted URLs', () => {
  it("uses the request's Host header and x-forwarded-proto when no public URL is set", async () => {
    const response = await requestWithHost(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { host: 'images.internal:8443', 'x-forwarded-proto': 'https', authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-2', prompt: 'a host', size: '256x256' }),
    });
    expect(response.status).toBe(200);
    const url = (JSON.parse(response.body) as ImagesBody).data[0]?.url ?? '';
    expect(url).toMatch(/^https:\/\/images\.internal:8443\/v1\/files\/images\/.+\.png\?expires=\d+&signature=[\w-]+$/);
    // The same path, asked of the gateway itself, is the image.
    const local = await fetch(gateway.url + new URL(url).pathname + new URL(url).search);
    expect(local.status).toBe(200);
    await local.arrayBuffer();
  });

  it('uses plain http and the Host header without x-forwarded-proto', async () => {
    const response = await requestWithHost(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { host: 'gateway.example:9000', authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-2', prompt: 'a host', size: '256x256' }),
    });
    expect((JSON.parse(response.body) as ImagesBody).data[0]?.url).toMatch(/^http:\/\/gateway\.example:9000\/v1\/files\//);
  });

  it('uses IMAGEGATE_PUBLIC_URL when it is set, whatever the Host header says', async () => {
    const withPublicUrl = await startTestGateway({}, { env: { IMAGEGATE_PUBLIC_URL: 'https://cdn.example.com/' } });
    try {
      const url = await generateUrl({}, { 'x-forwarded-proto': 'http' }, withPublicUrl);
      expect(url).toMatch(/^https:\/\/cdn\.example\.com\/v1\/files\/images\/.+\.png\?expires=/);
      const local = await fetch(withPublicUrl.url + url.slice('https://cdn.example.com'.length));
      expect(local.status).toBe(200);
      expect(local.headers.get('content-type')).toBe('image/png');
      await local.arrayBuffer();
    } finally {
      await withPublicUrl.close();
    }
  });
});
