// The bytes of request bodies one process holds at once are bounded (server.body_memory_mb), not only
// each body (server.body_limit_mb): a body that does not fit in what is left is answered 503 with
// Retry-After before it is read (declared length) or as its running total crosses it (chunked), its
// connection closed; small bodies are not counted; a body's bytes come back when its answer is over,
// finished or abandoned.

import { randomBytes } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { startHeldUpstream, type HeldUpstream } from './held-upstream.js';
import { expectOpenAIShapedError, RawConnection } from './raw-http.js';

const megabyte = 1024 * 1024;
const metricsToken = 'metrics-token-0123456789abcdef';
const bodyLimitBytes = 4 * megabyte;
const bodyMemoryBytes = 5 * megabyte;

let gateway: TestGateway;
let held: HeldUpstream;
let heldAgain: HeldUpstream;
/** A PNG of noise (it does not compress) of about 3 MB: two of them do not fit in 5 MB. */
let largePng: Buffer;

beforeAll(async () => {
  [held, heldAgain] = await Promise.all([startHeldUpstream({ width: 256, height: 256 }), startHeldUpstream({ width: 256, height: 256 })]);
  gateway = await startTestGateway({
    bodyLimitBytes,
    bodyMemoryBytes,
    metrics: { enabled: true, token: metricsToken, port: undefined, host: '127.0.0.1' },
    channels: [
      { name: 'offline', provider: 'offline', models: ['dall-e-2', 'gpt-image-1-mini'] },
      { name: 'held', provider: 'openai', base_url: held.baseUrl, api_key: 'sk-held-0123456789abcdef', models: ['gpt-image-1'] },
      { name: 'held-again', provider: 'openai', base_url: heldAgain.baseUrl, api_key: 'sk-held-0123456789abcdef', models: ['gpt-image-1.5'] },
    ],
  });
  const side = 1000;
  largePng = await sharp(randomBytes(side * side * 3), { raw: { width: side, height: side, channels: 3 } }).png().toBuffer();
});

afterAll(async () => {
  held.release();
  heldAgain.release();
  await gateway.close();
  await Promise.all([held.close(), heldAgain.close()]);
});

function editForm(model: string): FormData {
  const form = new FormData();
  form.set('model', model);
  form.set('prompt', 'the same scene at night');
  form.set('image', new Blob([largePng], { type: 'image/png' }), 'scene.png');
  return form;
}

/** The gauge of body bytes this process holds, as Prometheus scrapes it. */
async function bodyBytesHeld(): Promise<number> {
  const text = await (await fetch(`${gateway.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
  return Number(/^imagegate_request_body_bytes_held (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

function edit(model: string, signal?: AbortSignal): Promise<Response> {
  return fetch(`${gateway.url}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${gateway.apiKey}` }, body: editForm(model), signal });
}

/** A request declaring a body of `length` bytes; only its head is sent. */
function head(length: number): string {
  return `POST /v1/images/edits HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${gateway.apiKey}\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: ${length}\r\n\r\n`;
}

describe('request bodies held at once (server.body_memory_mb)', () => {
  it('refuses a body that does not fit beside one in flight (503, Retry-After, before it is read), serves small requests meanwhile, and takes it once the first is answered', async () => {
    expect(largePng.length).toBeGreaterThan(bodyMemoryBytes / 2);
    expect(largePng.length).toBeLessThan(bodyLimitBytes - 64 * 1024);
    const first = edit('gpt-image-1');
    await held.arrived(1);
    // The first upload's bytes, as the operator's metrics show them (its Content-Length: the image and the form around it).
    const holding = await bodyBytesHeld();
    expect(holding).toBeGreaterThan(largePng.length);
    expect(holding).toBeLessThan(largePng.length + 4096);

    // Declared: refused on its head alone, and its connection closed.
    const connection = await RawConnection.open(gateway.url);
    try {
      await connection.write(head(largePng.length + 1000));
      const refused = await connection.readResponse();
      const error = expectOpenAIShapedError(refused, 503, 'service_unavailable');
      expect(error.message).toMatch(/server\.body_memory_mb/);
      expect(refused.headers['retry-after']).toBe('1');
      expect(refused.headers['x-request-id']).toBeTruthy();
      expect(refused.headers.connection).toBe('close');
      await connection.waitForClose();
    } finally {
      connection.close();
    }

    // Chunked: refused once its running total crosses what is left (about 2 MB), not at the body limit.
    const chunked = await RawConnection.open(gateway.url);
    try {
      await chunked.write(
        `POST /v1/images/edits HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${gateway.apiKey}\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n`,
      );
      const chunk = Buffer.alloc(256 * 1024, 0x61);
      for (let sent = 0; sent < 3.5 * megabyte && !chunked.closed; sent += chunk.length) {
        await chunked.write(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]));
      }
      expectOpenAIShapedError(await chunked.readResponse(), 503, 'service_unavailable');
    } finally {
      chunked.close();
    }

    // A generation's small JSON body is not counted.
    const small = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-2', prompt: 'a lighthouse', size: '256x256', response_format: 'b64_json' }),
    });
    expect(small.status).toBe(200);

    held.release();
    const firstAnswer = await first;
    expect(firstAnswer.status).toBe(200);
    await firstAnswer.arrayBuffer();
    expect(await bodyBytesHeld()).toBe(0);
    // The first body's bytes are back: the same upload is taken now.
    const second = await edit('gpt-image-1-mini');
    expect(second.status).toBe(200);
    const [image] = ((await second.json()) as { data: Array<{ b64_json: string }> }).data;
    expect((await sharp(Buffer.from(image?.b64_json ?? '', 'base64')).metadata()).format).toBe('png');
  });

  it('gives a body back when its client goes away before the answer', async () => {
    const abandon = new AbortController();
    const abandoned = edit('gpt-image-1.5', abandon.signal).catch((error: unknown) => error);
    await heldAgain.arrived(1);
    const refused = await edit('gpt-image-1-mini');
    expect(refused.status).toBe(503);

    abandon.abort();
    expect(await abandoned).toBeInstanceOf(Error);
    // The gateway learns of the closed socket a moment after the client closes it: asked again until
    // taken, within a bound (a body never given back fails here).
    let status = 0;
    for (const started = Date.now(); Date.now() - started < 10_000; ) {
      status = (await edit('gpt-image-1-mini')).status;
      if (status !== 503) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(status).toBe(200);
  });
});
