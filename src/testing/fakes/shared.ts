// Building blocks for the in-repo fakes of upstream providers: a recording HTTP server and real images.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

export interface RecordedRequest {
  method: string;
  /** Path with query string. */
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The body parsed as JSON when it was JSON, else undefined. */
  json: unknown;
}

export interface FakeServer {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type FakeHandler = (request: RecordedRequest, response: ServerResponse, raw: IncomingMessage) => void | Promise<void>;

/**
 * Starts an HTTP server on 127.0.0.1 that records every request before handing it to `handler`;
 * `attach` gets the server before it listens (a fake that also speaks WebSocket hooks `upgrade` there).
 */
export async function startFakeServer(handler: FakeHandler, port = 0, attach?: (server: Server) => void): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer(async (raw, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of raw) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    let json: unknown;
    if ((raw.headers['content-type'] ?? '').includes('json') && body.length > 0) {
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch {
        json = undefined;
      }
    }
    const recorded: RecordedRequest = { method: raw.method ?? 'GET', path: raw.url ?? '/', headers: raw.headers, body, json };
    requests.push(recorded);
    try {
      await handler(recorded, response, raw);
    } catch (error) {
      if (!response.headersSent) sendJson(response, 500, { error: String(error) });
      else response.destroy();
    }
  });
  server.keepAliveTimeout = 5_000;
  attach?.(server);
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actualPort } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actualPort}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...headers });
  response.end(payload);
}

export function sendBytes(response: ServerResponse, status: number, body: Buffer, contentType: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': contentType, 'content-length': body.length, ...headers });
  response.end(body);
}

/** A real image of the given size and format, coloured from `seed` so different results differ. */
export async function makeTestImage(width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png', seed = 0): Promise<Buffer> {
  const hue = (seed * 47) % 360;
  const [r, g, b] = hslToRgb(hue, 0.6, 0.5);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="rgb(${r},${g},${b})"/><stop offset="1" stop-color="rgb(${b},${r},${g})"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width / 2}" cy="${height / 2}" r="${Math.min(width, height) / 4}" fill="rgb(${g},${b},${r})"/>
  </svg>`;
  return sharp(Buffer.from(svg)).toFormat(format).toBuffer();
}

function hslToRgb(h: number, s: number, l: number): [number, number, number] {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** Sleeps, resolving early (without error) when the signal aborts. */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Failure switches every fake understands, set on `fake.switches` at any time (tests) or from the
 * `npm run fake` command line. Each fake documents how it renders each switch in its own wire format.
 */
export interface FakeSwitches {
  /** Answer submissions with this HTTP status (429, 500, 503 …) using the provider's error body. */
  failStatus?: number;
  /** Sent as retry-after with a 429. */
  retryAfterSeconds?: number;
  /** Never answer (the client must time out or abort). */
  hang?: boolean;
  /** Flag the prompt (input) or the generated image (output) the way the provider does. */
  moderation?: 'input' | 'output';
  /** Return at most this many images even when more were asked for. */
  maxImages?: number;
  /** Answer with a body that is not what the API documents (truncated JSON). */
  malformed?: boolean;
  /** Asynchronous providers: report pending/in-progress this many polls before finishing. */
  pollsBeforeReady?: number;
  /** Result URLs stop working (404 or 403 as the provider does) this many ms after they are issued. */
  resultUrlTtlMs?: number;
  /** Artificial latency before answering each request. */
  latencyMs?: number;
  /**
   * The account has no credit left: submissions are answered the way the provider says so (OpenAI
   * 429 `insufficient_quota`, fal 403 "User is locked. Reason: Exhausted balance", BFL/Replicate/
   * Stability 402).
   */
  outOfFunds?: boolean;
}

/** The first value of a header that may have come more than once. */
export function firstHeaderValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The result images a fake serves, rendered on first fetch and kept by key: rendering is the slow
 * part, and a second fetch of the same URL must return the same bytes.
 */
export function createImageCache(): (key: string, render: () => Promise<Buffer>) => Promise<Buffer> {
  const images = new Map<string, Buffer>();
  return async (key, render) => {
    let bytes = images.get(key);
    if (bytes === undefined) {
      bytes = await render();
      images.set(key, bytes);
    }
    return bytes;
  };
}

/** The `resultUrlTtlMs` switch: a result issued at `issuedAt` is gone once the TTL has passed; one not issued yet never is. */
export function resultExpired(issuedAt: number | null | undefined, ttlMs: number | undefined, now = Date.now()): boolean {
  return ttlMs !== undefined && issuedAt !== null && issuedAt !== undefined && now - issuedAt >= ttlMs;
}

/** What the queue-style fakes (fal, Replicate) count; read through getters, so a test sees the live numbers. */
export interface QueueCounters {
  submissions: number;
  cancels: number;
}

export interface QueueFake<Switches extends FakeSwitches> extends FakeServer {
  switches: Switches;
  /** Submissions the fake accepted (after auth). */
  readonly submissions: number;
  /** Cancel calls received. */
  readonly cancels: number;
}

/** The handle a queue-style fake hands to tests: the server, its live switches and its counters. */
export function queueFakeHandle<Switches extends FakeSwitches>(server: FakeServer, switches: Switches, counters: QueueCounters): QueueFake<Switches> {
  return {
    url: server.url,
    requests: server.requests,
    close: server.close,
    switches,
    get submissions() {
      return counters.submissions;
    },
    get cancels() {
      return counters.cancels;
    },
  };
}
