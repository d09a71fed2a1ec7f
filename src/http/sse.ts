// Server-Sent Events as OpenAI sends them for image streams, with comment heartbeats that keep
// proxies from closing long generations.

import type { FastifyReply } from 'fastify';

export interface SseWriter {
  event(name: string, data: unknown): void;
  close(): void;
}

export function openSse(reply: FastifyReply, headers: Record<string, string>, heartbeatMs = 15_000): SseWriter {
  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write(': imagegate stream\n\n');
  const heartbeat = setInterval(() => raw.write(': keep-alive\n\n'), heartbeatMs);
  heartbeat.unref();
  return {
    event(name, data) {
      raw.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    close() {
      clearInterval(heartbeat);
      raw.end();
    },
  };
}
