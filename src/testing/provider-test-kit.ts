// What the provider adapters' tests share: an upstream fake and the real guarded client started
// around them, call options as the core builds them, the GatewayError a call fails with, and the
// images a call returns, decoded.

import OpenAI from 'openai';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { GatewayError } from '../core/errors.js';
import type { ImageCallOptions, ProviderImage } from '../core/ports/image-model.js';
import { createHttpClient, type GuardedHttpClient } from '../providers/shared/http-client.js';
import type { FakeServer, FakeSwitches } from './fakes/shared.js';

export interface UpstreamUnderTest<Fake> {
  /** The running fake; read it inside a test or hook, not at module level (it starts in a hook). */
  readonly fake: Fake;
  /** The guarded client the adapter is given, private addresses allowed: the fake listens on 127.0.0.1. */
  readonly http: GuardedHttpClient;
}

/**
 * Registers the hooks that start the fake and the client and close both. `'test'` starts a fresh
 * fake for every test; `'file'` shares one and clears its switches after every test, so a switch a
 * test flips never reaches the next one.
 */
export function useUpstreamFake<Fake extends FakeServer & { switches: FakeSwitches }>(start: () => Promise<Fake>, lifetime: 'test' | 'file'): UpstreamUnderTest<Fake> {
  let fake: Fake | undefined;
  let http: GuardedHttpClient | undefined;
  beforeAll(async () => {
    http = createHttpClient({ allowPrivateNetworks: true });
    if (lifetime === 'file') fake = await start();
  });
  afterAll(async () => {
    await http?.close();
    if (lifetime === 'file') await fake?.close();
  });
  if (lifetime === 'test') {
    beforeEach(async () => {
      fake = await start();
    });
    afterEach(async () => {
      await fake?.close();
    });
  } else {
    afterEach(() => {
      if (fake === undefined) return;
      for (const key of Object.keys(fake.switches)) delete fake.switches[key as keyof FakeSwitches];
    });
  }
  return {
    get fake() {
      if (fake === undefined) throw new Error('the upstream fake is not running: read it inside a test or hook');
      return fake;
    },
    get http() {
      if (http === undefined) throw new Error('the HTTP client is not created yet: read it inside a test or hook');
      return http;
    },
  };
}

export interface OpenAICompatibleUnderTest<Fake> extends UpstreamUnderTest<Fake> {
  /** The official `openai` SDK pointed at the fake's `/v1` with the fake's key, without retries. */
  readonly client: OpenAI;
  /**
   * POSTs `body` as JSON to the fake's `/v1/images/<path>` with `Bearer <key>` (the fake's own key
   * unless given), for the fields and endpoints the SDK does not type; the body read whole, and
   * parsed when it is JSON.
   */
  post(path: string, body: unknown, key?: string): Promise<{ status: number; text: string; json: any }>;
}

/** useUpstreamFake for a whole file, for an upstream that speaks OpenAI's Images API (recraft, xai). */
export function useOpenAICompatibleFake<Fake extends FakeServer & { switches: FakeSwitches }>(start: () => Promise<Fake>, keyOf: (fake: Fake) => string): OpenAICompatibleUnderTest<Fake> {
  const upstream = useUpstreamFake(start, 'file');
  let client: OpenAI | undefined;
  beforeAll(() => {
    client = new OpenAI({ apiKey: keyOf(upstream.fake), baseURL: `${upstream.fake.url}/v1`, maxRetries: 0 });
  });
  return {
    get fake() {
      return upstream.fake;
    },
    get http() {
      return upstream.http;
    },
    get client() {
      if (client === undefined) throw new Error('the SDK client is not created yet: read it inside a test or hook');
      return client;
    },
    async post(path, body, key = keyOf(upstream.fake)) {
      const response = await fetch(`${upstream.fake.url}/v1/images/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: response.status, text, json };
    },
  };
}

/**
 * Call options as the core hands them to an adapter: one png image, no provider options, no input
 * images and a fresh abort signal, unless `options` says otherwise.
 */
export function imageCallOptions(options: Pick<ImageCallOptions, 'model' | 'prompt' | 'size' | 'aspectRatio'> & Partial<ImageCallOptions>): ImageCallOptions {
  return { n: 1, outputFormat: 'png', providerOptions: {}, images: [], abortSignal: new AbortController().signal, ...options };
}

/** The GatewayError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function gatewayErrorOf(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

/** The bytes of an image the adapter returned inline; throws when it came as a URL. */
export function bytesOf(image: ProviderImage | undefined): Buffer {
  if (image?.kind !== 'bytes') throw new Error(`expected bytes, got ${JSON.stringify(image)}`);
  return image.data;
}

/** Downloads an image the adapter returned as a URL and reads what it really is. */
export async function downloadedMetadata(http: GuardedHttpClient, image: ProviderImage | undefined): Promise<sharp.Metadata> {
  if (image?.kind !== 'url') throw new Error(`expected a url image, got ${image?.kind}`);
  const response = await http.request(image.url);
  expect(response.status).toBe(200);
  return sharp(response.body).metadata();
}

/** A signal that aborts with `reason` after `ms`: a client that hangs up while the call runs. */
export function abortAfter(reason: unknown, ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(reason), ms);
  return controller.signal;
}

/** Call options that abort with `reason` 30 ms after the adapter records its upstream job: a client that hangs up mid-poll. */
export function abortOnceJobRecorded(reason: unknown): Pick<ImageCallOptions, 'abortSignal' | 'onUpstreamJob'> {
  const controller = new AbortController();
  return {
    abortSignal: controller.signal,
    onUpstreamJob: () => {
      setTimeout(() => controller.abort(reason), 30);
    },
  };
}
