// The guarded client's onBodyChunk: body chunks reach the caller while the body is still arriving
// (what relaying an upstream's server-sent events needs), and the whole body is still returned.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeServer, type FakeServer } from '../../testing/fakes/shared.js';
import { createHttpClient, type GuardedHttpClient } from './http-client.js';

let server: FakeServer;
let http: GuardedHttpClient;
/** Resolved by the test once it has seen the first chunk; the server holds the rest until then. */
let firstChunkSeen: () => void = () => undefined;
let firstChunkGate: Promise<void> = Promise.resolve();

beforeAll(async () => {
  server = await startFakeServer(async (request, response) => {
    response.writeHead(request.path === '/missing' ? 404 : 200, { 'content-type': 'text/event-stream' });
    response.write('event: first\ndata: 1\n\n');
    await firstChunkGate;
    response.end('event: second\ndata: 2\n\n');
  });
  http = createHttpClient({ allowPrivateNetworks: true });
});

afterAll(async () => {
  await http.close();
  await server.close();
});

function holdAfterFirstChunk(): void {
  firstChunkGate = new Promise<void>((resolve) => {
    firstChunkSeen = resolve;
  });
}

describe('onBodyChunk', () => {
  it('hands over each chunk as it arrives, with the status and headers, and still returns the whole body', async () => {
    holdAfterFirstChunk();
    const seen: Array<{ text: string; status: number; contentType: string | undefined }> = [];
    // Should chunks only come at the end, the guard lets the server finish and the check below fails.
    let heldBackTooLong = false;
    const guard = setTimeout(() => {
      heldBackTooLong = true;
      firstChunkSeen();
    }, 10_000);
    try {
      const response = await http.request(`${server.url}/events`, {
        onBodyChunk: (chunk, head) => {
          seen.push({ text: chunk.toString('utf8'), status: head.status, contentType: head.headers['content-type'] });
          firstChunkSeen();
        },
      });
      expect(heldBackTooLong).toBe(false);
      expect(seen[0]).toEqual({ text: 'event: first\ndata: 1\n\n', status: 200, contentType: 'text/event-stream' });
      expect(seen.map((entry) => entry.text).join('')).toBe('event: first\ndata: 1\n\nevent: second\ndata: 2\n\n');
      expect(response.body.toString('utf8')).toBe('event: first\ndata: 1\n\nevent: second\ndata: 2\n\n');
    } finally {
      clearTimeout(guard);
      firstChunkSeen();
    }
  });

  it('reports an error status with the chunks, so a caller can tell an error body from a stream', async () => {
    firstChunkGate = Promise.resolve();
    const statuses = new Set<number>();
    const response = await http.request(`${server.url}/missing`, { onBodyChunk: (_chunk, head) => statuses.add(head.status) });
    expect(response.status).toBe(404);
    expect([...statuses]).toEqual([404]);
  });
});
