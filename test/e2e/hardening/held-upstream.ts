// An OpenAI-compatible upstream that holds each image request until the test releases it, so a
// test can act (send SIGTERM, kill a process, start a second request) at the moment a request is
// known to be in flight — an event, not a sleep. Answers with OpenAI's ImagesResponse for gpt-image
// models, `{ created, data: [{ b64_json }] }` (platform.openai.com/docs/api-reference/images/object;
// openai-node src/resources/images.ts `ImagesResponse`).

import sharp from 'sharp';
import { sendJson, startFakeServer, type FakeServer } from '../../../src/testing/fakes/shared.js';

export interface HeldUpstream {
  /** The base URL a channel uses (`…/v1`). */
  baseUrl: string;
  /** Image requests received so far. */
  readonly received: number;
  /** Resolves once `count` image requests have arrived (at once if they already have). */
  arrived(count?: number): Promise<void>;
  /** Answers every held request, and those still to come, with a `width`×`height` PNG. */
  release(): void;
  close(): Promise<void>;
}

export async function startHeldUpstream(size: { width: number; height: number } = { width: 1024, height: 1024 }): Promise<HeldUpstream> {
  const png = await sharp({ create: { width: size.width, height: size.height, channels: 3, background: '#224488' } }).png().toBuffer();
  let received = 0;
  let released = false;
  const waiting = new Set<() => void>();
  const arrivals = new Set<{ count: number; resolve: () => void }>();
  const server: FakeServer = await startFakeServer(async (request, response) => {
    if (!request.path.includes('/images/')) {
      sendJson(response, 404, { error: { message: 'not here', type: 'invalid_request_error', param: null, code: null } });
      return;
    }
    received += 1;
    for (const arrival of [...arrivals]) {
      if (received >= arrival.count) {
        arrivals.delete(arrival);
        arrival.resolve();
      }
    }
    if (!released) await new Promise<void>((resolve) => waiting.add(resolve));
    sendJson(response, 200, { created: Math.floor(Date.now() / 1000), data: [{ b64_json: png.toString('base64') }] });
  });
  const release = (): void => {
    released = true;
    for (const resolve of waiting) resolve();
    waiting.clear();
  };
  return {
    baseUrl: `${server.url}/v1`,
    get received() {
      return received;
    },
    arrived(count = 1) {
      if (received >= count) return Promise.resolve();
      return new Promise((resolve) => arrivals.add({ count, resolve }));
    },
    release,
    async close() {
      release();
      await server.close();
    },
  };
}
