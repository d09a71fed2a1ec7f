// A local fake of xAI's Images API (https://api.x.ai/v1): generations and JSON edits with xAI's rules.
//
// Sources: xAI's OpenAPI file (https://api.x.ai/api-docs/openapi.json, generated into the official SDK
// as xai-org/xai-sdk-ts src/generated/types.ts) — "OpenAPI" below; the SDK's request types and error
// tests (src/types.ts, test/errors.test.ts); xAI's image guide (docs.x.ai, model capabilities / images).
//
// Routes: POST /v1/images/generations | /v1/images/edits (application/json only: "the xAI API requires
// application/json" for edits, image guide), GET /results/{id}.jpeg (result URLs, "temporary").
// Errors use xAI's body `{"code": "<status text>", "error": "<message>"}` (SDK test/errors.test.ts: "uses a
// string error field as the message"). An invalid key is a 400 ("Bad request. The request is invalid or
// an invalid API key is provided", the OpenAPI file's 400 for every endpoint); no key at all, 401.
// Switches:
//   failStatus        that status in xAI's body; 429 carries retry-after
//   outOfFunds        403: the team "has either used all available credits or reached its monthly
//                     spending limit" (the fake's wording of xAI's permission failure for credit)
//   moderation        400 naming content moderation (input: the prompt; output: the generated image)
//   hang, latencyMs, maxImages, malformed (200, truncated JSON), resultUrlTtlMs (404 after it)
//   pollsBeforeReady  not applicable: the synchronous endpoints are faked (no `deferred`)

import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { delay, isRecord, makeTestImage, resultExpired, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export const defaultXaiFakeApiKey = 'xai-test-fake-key-0123456789';

export interface XaiFakeOptions {
  port?: number;
  apiKey?: string;
  switches?: FakeSwitches;
}

export interface XaiCall {
  operation: 'generations' | 'edits';
  body: Record<string, unknown>;
  /** Decoded sizes of the edit inputs. */
  inputs: Array<{ width: number; height: number; format: string }>;
  output: { width: number; height: number };
}

export interface XaiFake extends FakeServer {
  switches: FakeSwitches;
  apiKey: string;
  calls: XaiCall[];
}

/** KnownImageModelId (SDK src/models.ts, from docs.x.ai/developers/models.md 2026-09-22). */
const models = ['grok-imagine-image', 'grok-imagine-image-quality', 'grok-imagine-image-2.0'];
/** ImageAspectRatio (OpenAPI). */
const aspectRatios = ['1:1', '3:4', '4:3', '9:16', '16:9', '2:3', '3:2', '9:19.5', '19.5:9', '9:20', '20:9', '1:2', '2:1', '21:9', '5:2', 'auto'];
/** ImageResolution (OpenAPI): "1k is the default when a request leaves `resolution` unset" (ImagePricingTier). */
const resolutions: Record<string, number> = { '1k': 1024, '1.5k': 1536, '2k': 2048 };
/** GenerateImageRequest / EditImageRequest properties (OpenAPI); `quality` only for grok-imagine-image-2.0 (SDK src/types.ts). */
const generationFields = new Set(['aspect_ratio', 'deferred', 'model', 'n', 'output', 'prompt', 'resolution', 'response_format', 'storage_options', 'user', 'quality']);
const editFields = new Set([...generationFields, 'image', 'images']);
/** One USD cent = 100,000,000 ticks (MediaUsage.cost_in_usd_ticks); grok-imagine-image costs 2 cents at 1k. */
const ticksPerImage = 2 * 100_000_000;

class Rejected extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
const invalidArgument = (message: string) => new Rejected(400, message);

export async function startXaiFake(options: XaiFakeOptions = {}): Promise<XaiFake> {
  const apiKey = options.apiKey ?? defaultXaiFakeApiKey;
  const switches: FakeSwitches = options.switches ?? {};
  const calls: XaiCall[] = [];
  const results = new Map<string, { data: Buffer; issuedAt: number }>();
  let seed = 0;

  const server = await startFakeServer(async (request, response, raw) => {
    const url = new URL(request.path, 'http://fake');
    if (switches.latencyMs) await delay(switches.latencyMs);
    if (request.method === 'GET' && url.pathname.startsWith('/results/')) {
      const result = results.get(url.pathname.slice('/results/'.length));
      if (result === undefined || resultExpired(result.issuedAt, switches.resultUrlTtlMs)) return sendJson(response, 404, errorBody(404, 'Not found'));
      return sendBytes(response, 200, result.data, 'image/jpeg');
    }
    const operation = url.pathname === '/v1/images/generations' ? 'generations' : url.pathname === '/v1/images/edits' ? 'edits' : undefined;
    if (request.method !== 'POST' || operation === undefined) return sendJson(response, 404, errorBody(404, `No route for ${request.method} ${url.pathname}`));
    const authorization = String(request.headers['authorization'] ?? '');
    if (authorization === '') return sendJson(response, 401, errorBody(401, 'Missing bearer or basic authentication in header'));
    if (authorization !== `Bearer ${apiKey}`) {
      const shown = authorization.replace(/^Bearer\s+/, '').slice(0, 4);
      return sendJson(response, 400, errorBody(400, `Incorrect API key provided: ${shown}***. You can obtain an API key from https://console.x.ai.`));
    }
    if (switches.hang) return;
    if (switches.outOfFunds) {
      return sendJson(response, 403, errorBody(403, 'Your team has either used all available credits or reached its monthly spending limit. To continue making API requests, please purchase more credits or raise your spending limit.'));
    }
    if (switches.failStatus) {
      const headers: Record<string, string> = switches.failStatus === 429 ? { 'retry-after': String(switches.retryAfterSeconds ?? 1) } : {};
      return sendJson(response, switches.failStatus, errorBody(switches.failStatus, `fake failure ${switches.failStatus}`), headers);
    }
    try {
      if (!String(raw.headers['content-type'] ?? '').includes('application/json')) {
        throw new Rejected(415, 'Unsupported content type: the images endpoints take application/json');
      }
      const call = await validate(operation, request);
      if (switches.moderation) {
        throw invalidArgument(switches.moderation === 'input' ? 'The prompt was rejected by content moderation.' : 'The generated image was rejected by content moderation.');
      }
      const count = Math.min(call.n, switches.maxImages ?? call.n);
      const images = await Promise.all(Array.from({ length: count }, () => makeTestImage(call.output.width, call.output.height, 'jpeg', (seed += 1))));
      calls.push({ operation, body: call.body, inputs: call.inputs, output: call.output });
      if (switches.malformed) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"data":[{"b64_json":"/9j/4AAQ');
        return;
      }
      const host = raw.headers.host ?? '127.0.0.1';
      const data = images.map((image) => {
        // GeneratedImage (OpenAPI): b64_json or url, and mime_type; revised_prompt as relays observe it
        // in live answers ("The live response may include url, mime_type, and revised_prompt", docs.crazyrouter.com/en/images/grok).
        const item: Record<string, unknown> = { mime_type: 'image/jpeg', revised_prompt: `A detailed image of ${call.prompt}` };
        if (call.responseFormat === 'b64_json') item['b64_json'] = image.toString('base64');
        else {
          const id = `${randomUUID()}.jpeg`;
          results.set(id, { data: image, issuedAt: Date.now() });
          item['url'] = `http://${host}/results/${id}`;
        }
        return item;
      });
      // GeneratedImageResponse (OpenAPI): data and usage (MediaUsage.cost_in_usd_ticks).
      sendJson(response, 200, { data, usage: { cost_in_usd_ticks: ticksPerImage * count } }, { 'x-request-id': randomUUID() });
    } catch (error) {
      if (error instanceof Rejected) return sendJson(response, error.status, errorBody(error.status, error.message));
      throw error;
    }
  }, options.port ?? 0);

  return { url: server.url, requests: server.requests, close: server.close, switches, apiKey, calls };
}

interface ValidCall {
  body: Record<string, unknown>;
  prompt: string;
  n: number;
  responseFormat: 'url' | 'b64_json';
  inputs: Array<{ width: number; height: number; format: string }>;
  output: { width: number; height: number };
}

async function validate(operation: 'generations' | 'edits', request: RecordedRequest): Promise<ValidCall> {
  const body = request.json;
  if (!isRecord(body)) throw invalidArgument('The request body must be a JSON object');
  const known = operation === 'generations' ? generationFields : editFields;
  // OpenAI's size/style have no xAI field: "Argument not supported: size" (docs.crazyrouter.com/en/images/grok, quoting xAI).
  for (const field of Object.keys(body)) if (!known.has(field)) throw invalidArgument(`Argument not supported: ${field}`);
  const model = body['model'] ?? 'grok-imagine-image';
  if (typeof model !== 'string' || !models.includes(model)) throw new Rejected(404, `The model ${String(model)} does not exist or your team does not have access to it.`);
  if (body['quality'] !== undefined && (model !== 'grok-imagine-image-2.0' || !['low', 'medium', 'auto'].includes(String(body['quality'])))) {
    throw invalidArgument('Argument not supported: quality');
  }
  const prompt = body['prompt'];
  if (typeof prompt !== 'string' || prompt.trim() === '') throw invalidArgument('prompt is required');
  // "Number of images, 1 to 10" (image guide).
  const n = body['n'] ?? 1;
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 10) throw invalidArgument('n must be between 1 and 10');
  const responseFormat = body['response_format'] ?? 'url';
  if (responseFormat !== 'url' && responseFormat !== 'b64_json') throw invalidArgument('response_format must be url or b64_json');
  const ratio = body['aspect_ratio'] ?? 'auto';
  if (typeof ratio !== 'string' || !aspectRatios.includes(ratio)) throw invalidArgument(`Invalid aspect_ratio: ${String(ratio)}`);
  const resolution = body['resolution'] ?? '1k';
  const edge = typeof resolution === 'string' ? resolutions[resolution] : undefined;
  if (edge === undefined) throw invalidArgument(`Invalid resolution: ${String(resolution)}`);

  const inputs: ValidCall['inputs'] = [];
  if (operation === 'edits') {
    if (body['image'] !== undefined && body['images'] !== undefined) throw invalidArgument('image and images are mutually exclusive');
    const list = body['images'] ?? (body['image'] === undefined ? [] : [body['image']]);
    if (!Array.isArray(list) || list.length === 0) throw invalidArgument('image is required for an edit');
    for (const item of list) inputs.push(await decodeInput(item));
  }
  // `auto` lets the model choose; for an edit that is the first input's shape.
  const shape = ratio !== 'auto' ? ratio.split(':').map(Number) : inputs[0] !== undefined ? [inputs[0].width, inputs[0].height] : [1, 1];
  const [w = 1, h = 1] = shape;
  const scale = Math.sqrt((edge * edge) / (w * h));
  const output = { width: Math.round((w * scale) / 16) * 16, height: Math.round((h * scale) / 16) * 16 };
  return { body, prompt, n: n as number, responseFormat, inputs, output };
}

/** ImageUrl: `{url}` — "Public URL or base64-encoded data URL of the image (JPEG, PNG, or WebP)"; the fake decodes data URLs only. */
async function decodeInput(item: unknown): Promise<{ width: number; height: number; format: string }> {
  const url = isRecord(item) ? (item['url'] ?? item['image_url']) : undefined;
  const base64 = typeof url === 'string' ? /^data:image\/(?:jpeg|png|webp);base64,(.+)$/s.exec(url)?.[1] : undefined;
  if (base64 === undefined) throw invalidArgument('image.url must be a URL or a data URL of a JPEG, PNG or WebP image');
  try {
    const meta = await sharp(Buffer.from(base64, 'base64')).metadata();
    if (!meta.width || !meta.height || !['jpeg', 'png', 'webp'].includes(meta.format ?? '')) throw new Error('not an image');
    return { width: meta.width, height: meta.height, format: meta.format ?? '' };
  } catch {
    throw invalidArgument('image could not be decoded');
  }
}

function errorBody(status: number, message: string): { code: string; error: string } {
  const codes: Record<number, string> = {
    400: 'Client specified an invalid argument',
    401: 'The request does not have valid authentication credentials',
    403: 'The caller does not have permission to execute the specified operation',
    404: 'Some requested entity was not found',
    415: 'Client specified an invalid argument',
    429: 'Too many requests',
  };
  return { code: codes[status] ?? 'Internal error', error: message };
}

export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<XaiFake> {
  return startXaiFake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }) });
}
