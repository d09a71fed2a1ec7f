// Speaks HTTP/1.1 over a raw socket (node:net), for tests where framing matters: malformed headers,
// bodies cut short or sent slowly, several requests on one keep-alive connection. Responses are read
// with a small parser that understands Content-Length and chunked bodies.

import { connect, type Socket } from 'node:net';
import { expect } from 'vitest';

export interface RawResponse {
  status: number;
  /** Lower-cased names; a repeated header keeps its last value. */
  headers: Record<string, string>;
  body: Buffer;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** How long a test waits for an answer before calling the connection hung: a bound on hangs, not a timing assertion. */
export const answerBoundMs = 15_000;

/** One connection, read as a queue of responses. */
export class RawConnection {
  readonly socket: Socket;
  #buffer = Buffer.alloc(0);
  #closed = false;
  #waiters: Array<() => void> = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      this.#wake();
    });
    const onEnd = () => {
      this.#closed = true;
      this.#wake();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    // A reset after the answer is part of what some tests provoke; the reader sees it as a close.
    socket.on('error', onEnd);
  }

  static async open(baseUrl: string): Promise<RawConnection> {
    const { hostname, port } = new URL(baseUrl);
    const socket = connect({ host: hostname, port: Number(port) });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawConnection(socket);
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(data: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed || !this.socket.writable) {
        resolve();
        return;
      }
      this.socket.write(data, () => resolve());
    });
  }

  /** The next whole response; fails the test when none arrives within answerBoundMs. */
  async readResponse(boundMs = answerBoundMs): Promise<RawResponse> {
    const deadline = Date.now() + boundMs;
    for (;;) {
      const parsed = parseResponse(this.#buffer);
      if (parsed !== undefined) {
        this.#buffer = this.#buffer.subarray(parsed.consumed);
        // Interim answers (100 Continue) are Node's, written before the app sees the request: the final one follows.
        if (parsed.response.status >= 100 && parsed.response.status < 200 && parsed.response.status !== 101) continue;
        return parsed.response;
      }
      if (this.#closed) throw new Error(`connection closed before a whole response arrived (${this.#buffer.length} bytes read)`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`no answer within ${boundMs} ms (${this.#buffer.length} bytes read)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves once the server has closed the connection; fails the test after the bound. */
  async waitForClose(boundMs = answerBoundMs): Promise<void> {
    const deadline = Date.now() + boundMs;
    while (!this.#closed) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`connection still open after ${boundMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }

  #wake(): void {
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Sends raw bytes on a fresh connection and reads one response. */
export async function rawRequest(baseUrl: string, data: string | Buffer): Promise<RawResponse> {
  const connection = await RawConnection.open(baseUrl);
  try {
    await connection.write(data);
    return await connection.readResponse();
  } finally {
    connection.close();
  }
}

function parseResponse(buffer: Buffer): { response: RawResponse; consumed: number } | undefined {
  const headEnd = buffer.indexOf('\r\n\r\n');
  if (headEnd === -1) return undefined;
  const [statusLine = '', ...lines] = buffer.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let offset = headEnd + 4;
  let body: Buffer;
  if (status === 304 || status === 204 || (status >= 100 && status < 200)) {
    body = Buffer.alloc(0);
  } else if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    for (;;) {
      const lineEnd = buffer.indexOf('\r\n', offset);
      if (lineEnd === -1) return undefined;
      const size = Number.parseInt(buffer.subarray(offset, lineEnd).toString('latin1'), 16);
      if (buffer.length < lineEnd + 2 + size + 2) return undefined;
      chunks.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
      offset = lineEnd + 2 + size + 2;
      if (size === 0) break;
    }
    body = Buffer.concat(chunks);
  } else {
    const length = Number(headers['content-length'] ?? 0);
    if (buffer.length < offset + length) return undefined;
    body = buffer.subarray(offset, offset + length);
    offset += length;
  }
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  return { response: { status, headers, body: Buffer.from(body), json }, consumed: offset };
}

/** What every error the gateway writes looks like: OpenAI's shape, JSON, and a request id. */
export function expectOpenAIShapedError(response: RawResponse, status: number, code?: string): { message: string; type: string; param: string | null; code: string } {
  expect(response.status, response.body.toString('utf8').slice(0, 500)).toBe(status);
  expect(response.headers['content-type']).toMatch(/^application\/json/);
  expect(response.headers['x-request-id']).toMatch(/^[\w.:-]{1,128}$/);
  const error = (response.json as { error?: { message: string; type: string; param: string | null; code: string } } | undefined)?.error;
  expect(error, response.body.toString('utf8').slice(0, 500)).toBeDefined();
  expect(Object.keys(response.json as object)).toEqual(['error']);
  expect(Object.keys(error ?? {}).sort()).toEqual(['code', 'message', 'param', 'type']);
  expect(typeof error?.message).toBe('string');
  if (code !== undefined) expect(error?.code).toBe(code);
  return error as { message: string; type: string; param: string | null; code: string };
}
