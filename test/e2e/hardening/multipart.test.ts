// Issue 9, items 7, 8 and 9: multipart bodies are bounded and always answered.
// 7: a part without Content-Disposition is answered (400), whatever its size.
// 8: after an early rejection the keep-alive connection either serves the next request or is closed
//    by the gateway with `Connection: close`; it never hangs.
// 9: one body limit (server.body_limit_mb) for every content type, enforced while streaming, a 413 as
//    soon as it is crossed; text fields are never cut short; unknown fields are bounded before they
//    reach a provider or a task row.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { solidImage } from '../images-api-helpers.js';
import { expectOpenAIShapedError, RawConnection, type RawResponse } from './raw-http.js';

const bodyLimitBytes = 4 * 1024 * 1024;
let gateway: TestGateway;
let png: Buffer;

beforeAll(async () => {
  gateway = await startTestGateway({ bodyLimitBytes });
  png = await solidImage(64, 64, { alpha: 0.5 });
});
afterAll(async () => {
  await gateway.close();
});

const boundary = 'hardening-boundary-7f3a';
type Part = { name?: string; filename?: string; headers?: string; data: Buffer | string };

function multipart(parts: Part[], close = true): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}\r\n`;
    if (part.name !== undefined) head += `Content-Disposition: form-data; name="${part.name}"${part.filename ? `; filename="${part.filename}"` : ''}\r\n`;
    head += part.headers ?? (part.filename ? 'Content-Type: application/octet-stream\r\n' : '');
    chunks.push(Buffer.from(`${head}\r\n`), Buffer.isBuffer(part.data) ? part.data : Buffer.from(part.data), Buffer.from('\r\n'));
  }
  if (close) chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

function head(path: string, length: number | 'chunked', contentType = `multipart/form-data; boundary=${boundary}`): string {
  const framing = length === 'chunked' ? 'Transfer-Encoding: chunked' : `Content-Length: ${length}`;
  return `POST ${path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${gateway.apiKey}\r\nContent-Type: ${contentType}\r\n${framing}\r\n\r\n`;
}

async function send(path: string, body: Buffer, contentType?: string): Promise<{ response: RawResponse; connection: RawConnection }> {
  const connection = await RawConnection.open(gateway.url);
  await connection.write(Buffer.concat([Buffer.from(head(path, body.length, contentType)), body]));
  return { response: await connection.readResponse(), connection };
}

/** After a rejection: the same socket serves another request, or the gateway said close and closed it. */
async function expectConnectionUsableOrClosed(connection: RawConnection, first: RawResponse): Promise<void> {
  try {
    if (first.headers.connection?.toLowerCase() === 'close') {
      await connection.waitForClose();
      return;
    }
    await connection.write(`GET /v1/models HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer ${gateway.apiKey}\r\n\r\n`);
    const second = await connection.readResponse();
    expect(second.status).toBe(200);
  } finally {
    connection.close();
  }
}

const endpoints = ['/v1/images/edits', '/v1/images/variations'];

describe('item 7: a part without Content-Disposition is answered', () => {
  for (const path of endpoints) {
    for (const size of [18 * 1024, 2 * 1024 * 1024]) {
      it(`${path}, a ${size}-byte part → 400`, async () => {
        const body = multipart([{ name: 'prompt', data: 'x' }, { headers: 'Content-Type: application/octet-stream\r\n', data: Buffer.alloc(size, 7) }]);
        const { response, connection } = await send(path, body);
        const error = expectOpenAIShapedError(response, 400, 'invalid_value');
        expect(error.message).toMatch(/Content-Disposition/);
        await expectConnectionUsableOrClosed(connection, response);
      });
    }
  }
});

describe('item 8: early rejections leave the connection usable or closed', () => {
  // Each trigger comes first and megabytes follow it, so the rejection happens while most of the body
  // is still on the wire: the connection is only usable again if that rest is read or the socket closed.
  const rest = (): Part => ({ name: 'image', filename: 'big.png', data: Buffer.alloc(3 * 1024 * 1024, 5) });
  const cases: Array<[string, () => Buffer, string?]> = [
    ['an unexpected file field first', () => multipart([{ name: 'picture', filename: 'a.png', data: png }, rest(), { name: 'prompt', data: 'x' }])],
    ['a text part named image', () => multipart([{ name: 'image', data: 'not a file' }, rest(), { name: 'prompt', data: 'x' }])],
    ['more than 64 fields', () => multipart([...Array.from({ length: 80 }, (_, index) => ({ name: `field${index}`, data: 'v' })), rest()])],
    ['a missing boundary', () => multipart([{ name: 'prompt', data: 'x' }, rest()]), 'multipart/form-data'],
  ];
  for (const path of endpoints) {
    for (const [label, body, contentType] of cases) {
      it(`${path}: ${label}`, async () => {
        const { response, connection } = await send(path, body(), contentType);
        expect([400, 413]).toContain(response.status);
        expectOpenAIShapedError(response, response.status);
        await expectConnectionUsableOrClosed(connection, response);
      });
    }
  }
});

describe('item 9: one body limit, enforced while streaming', () => {
  it('a multipart body over server.body_limit_mb → 413, like JSON', async () => {
    const body = multipart([{ name: 'model', data: 'dall-e-2' }, { name: 'prompt', data: 'x' }, { name: 'image', filename: 'a.png', data: Buffer.alloc(bodyLimitBytes, 1) }]);
    const { response, connection } = await send('/v1/images/edits', body);
    expectOpenAIShapedError(response, 413, 'request_too_large');
    await expectConnectionUsableOrClosed(connection, response);
  });

  it('unknown text fields cannot add up past the limit (60 × 100 KB)', async () => {
    const parts: Part[] = Array.from({ length: 60 }, (_, index) => ({ name: `extra_${index}`, data: 'u'.repeat(100 * 1024) }));
    const body = multipart([...parts, { name: 'image', filename: 'a.png', data: Buffer.alloc(bodyLimitBytes / 2, 1) }]);
    const { response, connection } = await send('/v1/images/edits', body);
    expectOpenAIShapedError(response, 413, 'request_too_large');
    connection.close();
  });

  for (const [label, contentType] of [
    ['multipart', `multipart/form-data; boundary=${boundary}`],
    ['JSON', 'application/json'],
  ] as const) {
    it(`${label}: a Content-Length over the limit is refused before the body is sent`, async () => {
      const connection = await RawConnection.open(gateway.url);
      await connection.write(head('/v1/images/edits', bodyLimitBytes * 20, contentType));
      const response = await connection.readResponse();
      expectOpenAIShapedError(response, 413, 'request_too_large');
      expect(response.headers.connection).toBe('close');
      await connection.waitForClose();
    });

    it(`${label}: a chunked body is answered 413 as soon as it crosses the limit, before it ends`, async () => {
      const connection = await RawConnection.open(gateway.url);
      await connection.write(head('/v1/images/edits', 'chunked', contentType));
      const chunk = Buffer.alloc(256 * 1024, 0x41);
      const framed = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
      // Send past the limit but never the terminating chunk: only a streaming check can answer now.
      for (let sent = 0; sent <= bodyLimitBytes + chunk.length; sent += chunk.length) await connection.write(framed);
      const response = await connection.readResponse();
      expectOpenAIShapedError(response, 413, 'request_too_large');
      expect(response.headers.connection).toBe('close');
      connection.close();
    });
  }

  it('a text field over 1 MB is refused naming it, never cut short and then validated', async () => {
    const body = multipart([{ name: 'model', data: 'gpt-image-1' }, { name: 'prompt', data: 'p'.repeat(1024 * 1024 + 10) }, { name: 'image', filename: 'a.png', data: png }]);
    const { response, connection } = await send('/v1/images/edits', body);
    const error = expectOpenAIShapedError(response, 400);
    expect(error.param).toBe('prompt');
    expect(error.message).not.toContain('1048576 characters');
    connection.close();
  });
});

describe('item 9: unknown fields are bounded before a provider or a task row sees them', () => {
  const generate = async (body: Record<string, unknown>) => {
    const response = await fetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as { error?: { param: string | null; code: string; message: string } } };
  };
  const base = { model: 'dall-e-2', prompt: 'p', size: '256x256', response_format: 'b64_json' };

  it('a few small unknown fields pass through (with a warning)', async () => {
    const response = await generate({ ...base, negative_prompt: 'blurry', guidance: 3.5 });
    expect(response.status).toBe(200);
  });

  it('one large unknown field → 400 naming it', async () => {
    const response = await generate({ ...base, async: true, blob: 'b'.repeat(3 * 1024 * 1024) });
    expect(response.status).toBe(400);
    expect(response.body.error?.param).toBe('blob');
  });

  it('too many unknown fields → 400', async () => {
    const extras = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`x${index}`, index]));
    const response = await generate({ ...base, async: true, ...extras });
    expect(response.status).toBe(400);
    expect(response.body.error?.code).toBe('invalid_value');
  });

  it('no task row was written for the refused asynchronous requests', async () => {
    const listed = (await fetch(`${gateway.url}/v1/images/tasks`, { headers: { authorization: `Bearer ${gateway.apiKey}` } }).then((response) => response.json())) as { data: unknown[] };
    expect(listed.data).toEqual([]);
  });
});
