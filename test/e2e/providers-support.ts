// Helpers shared by the providers-*.test.ts files: an upstream fake behind a test gateway for the whole
// file, calling the gateway over HTTP the way a client does, and reading back the images it answers with.

import sharp from 'sharp';
import { Agent, fetch as undiciFetch } from 'undici';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import type { FakeServer } from '../../src/testing/fakes/shared.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

export interface ProviderRig<Fake> {
  /** The upstream fake; read it inside a test or hook (it starts in beforeAll). */
  readonly fake: Fake;
  /** A gateway whose channels lead to the fake. */
  readonly gateway: TestGateway;
}

/**
 * Registers a providers-*.test.ts file's hooks: starts the fake, then a gateway with the channels
 * `channelsOf` names for it; clears the fake's switches before every test (a switch one test flips
 * never reaches the next); closes the gateway, then the fake, after the file.
 */
export function useProviderRig<Fake extends FakeServer & { switches: object }>(start: () => Promise<Fake>, channelsOf: (fake: Fake) => ChannelConfig[]): ProviderRig<Fake> {
  let fake: Fake | undefined;
  let gateway: TestGateway | undefined;
  beforeAll(async () => {
    fake = await start();
    gateway = await startTestGateway({ channels: channelsOf(fake) });
  });
  afterAll(async () => {
    await gateway?.close();
    await fake?.close();
  });
  beforeEach(() => {
    const switches = (fake?.switches ?? {}) as Record<string, unknown>;
    for (const key of Object.keys(switches)) delete switches[key];
  });
  return {
    get fake() {
      if (fake === undefined) throw new Error('the upstream fake is not running: read it inside a test or hook');
      return fake;
    },
    get gateway() {
      if (gateway === undefined) throw new Error('the gateway is not started: read it inside a test or hook');
      return gateway;
    },
  };
}

export interface ImagesAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body (an images response or an OpenAI error). */
  body: {
    created?: number;
    data?: Array<{ url?: string; b64_json?: string; revised_prompt?: string }>;
    error?: { message: string; type: string; param: string | null; code: string | null; [extra: string]: unknown };
  };
  /** The raw body text, for checks that nothing secret is in it. */
  text: string;
}

async function answerOf(response: Response): Promise<ImagesAnswer> {
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) as ImagesAnswer['body'], text };
}

/** POST /v1/images/generations with the test key. */
export async function generate(gateway: TestGateway, body: Record<string, unknown>): Promise<ImagesAnswer> {
  const response = await fetch(`${gateway.url}/v1/images/generations`, {
    method: 'POST',
    headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return answerOf(response);
}

/**
 * The same request, abortable with an AbortController. It gets a connection pool of its own, closed
 * when the request ends: after an abort the shared pool may open a spare connection that never sends
 * a request, and the gateway's graceful close would wait on it.
 */
export async function generateAbortable(gateway: TestGateway, body: Record<string, unknown>, signal: AbortSignal): Promise<ImagesAnswer> {
  const agent = new Agent();
  try {
    const response = await undiciFetch(`${gateway.url}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal,
      dispatcher: agent,
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers as unknown as Headers, body: JSON.parse(text) as ImagesAnswer['body'], text };
  } finally {
    await agent.destroy();
  }
}

/** POST /v1/images/edits as multipart, with `image` parts (and a mask) like the OpenAI SDK sends. */
export async function edit(
  gateway: TestGateway,
  fields: Record<string, string>,
  images: Buffer[],
  mask?: Buffer,
  apiKey = gateway.apiKey,
): Promise<ImagesAnswer> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.set(name, value);
  images.forEach((image, index) => form.append(images.length > 1 ? 'image[]' : 'image', new Blob([image], { type: 'image/png' }), `input-${index}.png`));
  if (mask !== undefined) form.set('mask', new Blob([mask], { type: 'image/png' }), 'mask.png');
  const response = await fetch(`${gateway.url}/v1/images/edits`, { method: 'POST', headers: { authorization: `Bearer ${apiKey}` }, body: form });
  return answerOf(response);
}

export interface DecodedImage {
  format: string | undefined;
  width: number;
  height: number;
  data: Buffer;
}

export async function decode(data: Buffer): Promise<DecodedImage> {
  const metadata = await sharp(data).metadata();
  return { format: metadata.format, width: metadata.width ?? 0, height: metadata.height ?? 0, data };
}

/** The images of a 200 answer: base64 decoded, or downloaded from their URLs (which must be the gateway's). */
export async function imagesOf(gateway: TestGateway, answer: ImagesAnswer): Promise<DecodedImage[]> {
  if (answer.status !== 200) throw new Error(`expected 200, got ${answer.status}: ${answer.text}`);
  return Promise.all(
    (answer.body.data ?? []).map(async (item) => {
      if (item.b64_json !== undefined) return decode(Buffer.from(item.b64_json, 'base64'));
      const url = item.url ?? '';
      if (!url.startsWith(`${gateway.url}/`)) throw new Error(`result URL ${url} is not on the gateway ${gateway.url}`);
      const response = await fetch(url);
      if (response.status !== 200) throw new Error(`result URL answered ${response.status}`);
      return decode(Buffer.from(await response.arrayBuffer()));
    }),
  );
}

/** A real picture to send as an edit input. */
export function inputImage(width: number, height: number): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 40, g: 120, b: 200 } } }).png().toBuffer();
}

/** Waits (polling, briefly) until `condition` holds; fails with `what` after a generous limit. */
export async function waitUntil(condition: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const started = Date.now();
  while (!condition()) {
    if (Date.now() - started > limitMs) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The ratio of an image, as a number, for aspect checks that tolerate the provider's pixel rounding. */
export const ratioOf = (image: { width: number; height: number }): number => image.width / image.height;
