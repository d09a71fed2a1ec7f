// Server-Sent Events as OpenAI sends them for image streams, with comment heartbeats that keep
// proxies from closing long generations.

import type { FastifyReply } from 'fastify';

/** Proxies commonly close connections idle for 30-100 s; a comment every 15 s stays well inside. */
export const defaultHeartbeatMs = 15_000;

export interface SseOptions {
  /** Response headers besides the SSE ones (request id, provider, warnings). */
  headers: Record<string, string>;
  heartbeatMs?: number;
}

export interface SseWriter {
  /** One message: an `event:` line and one `data:` line of JSON. Dropped once the client has gone. */
  event(name: string, data: unknown): void;
  /** Stops the heartbeat and ends the response. */
  close(): void;
}

/**
 * Takes the response over from Fastify and starts the event stream with status 200. Headers already
 * set on the reply (rate limits) are kept, since a hijacked reply no longer sends them itself.
 */
export function openSse(reply: FastifyReply, options: SseOptions): SseWriter {
  const heartbeatMs = options.heartbeatMs ?? defaultHeartbeatMs;
  if (!Number.isFinite(heartbeatMs) || heartbeatMs <= 0) throw new RangeError(`SSE heartbeat must be a positive number of milliseconds, got ${heartbeatMs}`);
  const inherited: Record<string, string | number | string[]> = {};
  for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) inherited[name] = value;
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...inherited,
    ...options.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    // nginx buffers proxied responses unless told not to, which would hold every event back.
    'x-accel-buffering': 'no',
  });
  const writable = (): boolean => !raw.destroyed && !raw.writableEnded;
  // A first comment sends the headers now, so the client knows the stream has started.
  raw.write(': imagegate stream\n\n');
  const heartbeat = setInterval(() => {
    if (writable()) raw.write(': keep-alive\n\n');
  }, heartbeatMs);
  heartbeat.unref();
  raw.on('close', () => clearInterval(heartbeat));
  return {
    event(name, data) {
      if (writable()) raw.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      clearInterval(heartbeat);
      if (writable()) raw.end();
    },
  };
}
