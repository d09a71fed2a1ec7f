// Helpers for the routing-*.test.ts files: an OpenAI-compatible upstream that accepts several keys,
// records which key each call carried and can hold its answers (to fill a channel's concurrency
// slots), plus a log sink to read the gateway's routing events.

import type { ServerResponse } from 'node:http';
import pino, { type Logger } from 'pino';
import { makeTestImage, sendJson, startFakeServer, type FakeServer } from '../../src/testing/fakes/shared.js';

export interface KeyedUpstream extends FakeServer {
  /** The bearer key of every images call, in arrival order (accepted or not). */
  readonly keysSeen: string[];
  /** Calls currently being answered (held or rendering). */
  readonly inFlight: number;
  /** The most calls ever in flight at once. */
  readonly maxInFlight: number;
  /** Holds every answer until release() (calls still count as in flight). */
  hold(): void;
  release(): void;
}

/** An OpenAI Images-compatible server answering gpt-image style (b64_json) for any of `acceptedKeys`. */
export async function startKeyedUpstream(acceptedKeys: string[]): Promise<KeyedUpstream> {
  const keysSeen: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let seed = 0;

  const server = await startFakeServer(async (request, response: ServerResponse) => {
    const authorization = String(request.headers.authorization ?? '');
    const key = authorization.replace(/^Bearer /, '');
    keysSeen.push(key);
    if (!acceptedKeys.includes(key)) {
      sendJson(response, 401, { error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
      return;
    }
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    try {
      if (gate !== undefined) await gate;
      const image = await makeTestImage(64, 64, 'png', (seed += 1));
      sendJson(response, 200, { created: Math.floor(Date.now() / 1000), data: [{ b64_json: image.toString('base64') }] });
    } finally {
      inFlight -= 1;
    }
  });

  return {
    ...server,
    keysSeen,
    get inFlight() {
      return inFlight;
    },
    get maxInFlight() {
      return maxInFlight;
    },
    hold() {
      gate ??= new Promise((resolve) => (open = resolve));
    },
    release() {
      open?.();
      gate = undefined;
      open = undefined;
    },
  };
}

/** A pino logger whose lines are kept, parsed, for assertions on events. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>>; text: () => string } {
  const raw: string[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void raw.push(line) });
  return {
    logger,
    get lines() {
      return raw.map((line) => JSON.parse(line) as Record<string, unknown>);
    },
    text: () => raw.join(''),
  };
}
