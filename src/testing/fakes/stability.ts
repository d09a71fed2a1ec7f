// A local fake of Stability AI's v2beta Stable Image API (generate ultra/core/sd3 and edit/inpaint),
// multipart in, raw bytes or base64 JSON out, as Stability's API reference documents
// (https://platform.stability.ai/docs/api-reference, "Stable Image" v2beta endpoints).

import type { ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { delay, makeTestImage, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export interface StabilityFakeOptions {
  port?: number;
  /** The key the fake accepts as `Authorization: Bearer <key>`. */
  apiKey?: string;
  switches?: FakeSwitches;
}

/** One request the fake accepted for generation, with its multipart fields decoded. */
export interface StabilitySubmission {
  path: string;
  accept: string;
  /** Text fields as sent. */
  fields: Record<string, string>;
  /** File fields: their media type, size and decoded pixel dimensions. */
  files: Record<string, { type: string; size: number; width: number; height: number }>;
}

export interface StabilityFake extends FakeServer {
  switches: FakeSwitches;
  /** Every well-formed, authorised request in arrival order, including those a switch then failed. */
  submissions: StabilitySubmission[];
}

export const stabilityFakeDefaultApiKey = 'sk-fake-stability-key';

export const stabilityAspectRatios = ['16:9', '1:1', '21:9', '2:3', '3:2', '4:5', '5:4', '9:16', '9:21'] as const;
export const stabilityStylePresets = [
  '3d-model', 'analog-film', 'anime', 'cinematic', 'comic-book', 'digital-art', 'enhance', 'fantasy-art', 'isometric',
  'line-art', 'low-poly', 'modeling-compound', 'neon-punk', 'origami', 'photographic', 'pixel-art', 'tile-texture',
] as const;
export const stabilitySd3Models = ['sd3.5-large', 'sd3.5-large-turbo', 'sd3.5-medium', 'sd3.5-flash', 'sd3-large', 'sd3-large-turbo', 'sd3-medium'] as const;

// About one megapixel at each ratio; the API does not document exact output dimensions.
const outputSizes: Record<string, [number, number]> = {
  '1:1': [1024, 1024], '16:9': [1344, 768], '21:9': [1536, 640], '2:3': [832, 1216], '3:2': [1216, 832],
  '4:5': [896, 1088], '5:4': [1088, 896], '9:16': [768, 1344], '9:21': [640, 1536],
};

const errorNames: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  402: 'payment_required',
  403: 'forbidden',
  404: 'not_found',
  413: 'payload_too_large',
  422: 'invalid_language',
  429: 'rate_limit_exceeded',
  500: 'internal_error',
  503: 'service_unavailable',
};

const errorMessages: Record<number, string> = {
  402: 'You lack sufficient credits to make this request. Please purchase more credits at https://platform.stability.ai/account/credits and try again.',
  413: 'payload: must be less than 10MiB',
  422: 'English is the only supported language for this service.',
  429: 'You have exceeded the rate limit of 150 requests within a 10 second period, and have been timed out for 60 seconds.',
  500: 'An unexpected server error has occurred, please try again later.',
  503: 'The service is temporarily unavailable, please try again later.',
};

const maximumBodyBytes = 10 * 1024 * 1024;

/**
 * Switches, Stability's way: failStatus → `{"id","name","errors":[…]}` with the status's error name (429
 * with retry-after); moderation input → 403 `content_moderation`; moderation output → 200 with a blurred
 * image and `finish-reason: CONTENT_FILTERED`; malformed → a cut-off image (or truncated JSON); hang;
 * latencyMs. maxImages, pollsBeforeReady and resultUrlTtlMs do not apply: one image per synchronous
 * call, returned as bytes.
 */
export async function startStabilityFake(options: StabilityFakeOptions = {}): Promise<StabilityFake> {
  const apiKey = options.apiKey ?? stabilityFakeDefaultApiKey;
  const switches: FakeSwitches = options.switches ?? {};
  const submissions: StabilitySubmission[] = [];
  let imagesMade = 0;

  const server = await startFakeServer(async (request, response) => {
    if (switches.latencyMs) await delay(switches.latencyMs);
    if (switches.hang) return; // never answered: the client must time out or abort

    const url = new URL(request.path, 'http://fake.invalid');
    const generateMatch = /^\/v2beta\/stable-image\/generate\/(ultra|core|sd3)$/.exec(url.pathname);
    const isInpaint = url.pathname === '/v2beta/stable-image/edit/inpaint';
    if ((!generateMatch && !isInpaint) || request.method !== 'POST') {
      sendStabilityError(response, 404, [`${request.method} ${url.pathname}: not found`]);
      return;
    }
    const authorization = headerValue(request, 'authorization') ?? '';
    if (authorization !== `Bearer ${apiKey}`) {
      sendStabilityError(response, 401, ['authorization: invalid or missing']);
      return;
    }
    if (request.body.length > maximumBodyBytes) {
      sendStabilityError(response, 413, [errorMessages[413] ?? 'payload too large']);
      return;
    }
    const accept = headerValue(request, 'accept') ?? '';
    if (accept !== 'image/*' && accept !== 'application/json') {
      sendStabilityError(response, 400, ["accept: must be either 'image/*' or 'application/json'"]);
      return;
    }
    const contentType = headerValue(request, 'content-type') ?? '';
    if (!contentType.startsWith('multipart/form-data')) {
      sendStabilityError(response, 400, ['content-type: must be multipart/form-data']);
      return;
    }
    let form: FormData;
    try {
      form = await new Response(request.body, { headers: { 'content-type': contentType } }).formData();
    } catch {
      sendStabilityError(response, 400, ['body: could not parse multipart/form-data']);
      return;
    }

    const fields: Record<string, string> = {};
    const fileBlobs: Record<string, Blob> = {};
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') fields[name] = value;
      else fileBlobs[name] = value;
    }
    const files: StabilitySubmission['files'] = {};
    for (const [name, blob] of Object.entries(fileBlobs)) {
      const bytes = Buffer.from(await blob.arrayBuffer());
      try {
        const metadata = await sharp(bytes).metadata();
        files[name] = { type: blob.type, size: bytes.length, width: metadata.width ?? 0, height: metadata.height ?? 0 };
      } catch {
        sendStabilityError(response, 400, [`${name}: could not be decoded as an image`]);
        return;
      }
    }

    const endpoint = generateMatch ? (generateMatch[1] as 'ultra' | 'core' | 'sd3') : 'inpaint';
    const problems = validate(endpoint, fields, files);
    if (problems.length > 0) {
      sendStabilityError(response, 400, problems);
      return;
    }
    submissions.push({ path: url.pathname, accept, fields, files });

    if (switches.failStatus) {
      const headers: Record<string, string> = {};
      if (switches.failStatus === 429 && switches.retryAfterSeconds !== undefined) headers['retry-after'] = String(switches.retryAfterSeconds);
      sendStabilityError(response, switches.failStatus, [errorMessages[switches.failStatus] ?? 'request failed'], headers);
      return;
    }
    if (switches.moderation === 'input') {
      sendStabilityError(response, 403, ['Your request was flagged by our content moderation system, as a result your request was denied and you were not charged.'], {}, 'content_moderation');
      return;
    }

    const format = (fields['output_format'] ?? 'png') as 'png' | 'jpeg' | 'webp';
    const [width, height] =
      endpoint === 'inpaint'
        ? [files['image']?.width ?? 1024, files['image']?.height ?? 1024]
        : (outputSizes[fields['aspect_ratio'] ?? '1:1'] ?? [1024, 1024]);
    imagesMade += 1;
    const seed = fields['seed'] !== undefined && fields['seed'] !== '0' ? Number(fields['seed']) : 1 + Math.floor(Math.random() * 4_294_967_293);
    let image = await makeTestImage(width, height, format, imagesMade);
    let finishReason = 'SUCCESS';
    if (switches.moderation === 'output') {
      // Stability still answers 200, with the output blurred and the finish reason saying why.
      image = await sharp(image).blur(40).toFormat(format).toBuffer();
      finishReason = 'CONTENT_FILTERED';
    }
    const requestId = randomUUID().replaceAll('-', '');
    const mediaType = `image/${format}`;

    if (accept === 'application/json') {
      const body = JSON.stringify({ image: image.toString('base64'), finish_reason: finishReason, seed });
      const payload = switches.malformed ? body.slice(0, Math.floor(body.length / 2)) : body;
      response.writeHead(200, { 'content-type': `application/json; type=${mediaType}`, 'content-length': Buffer.byteLength(payload), 'x-request-id': requestId });
      response.end(payload);
      return;
    }
    const bytes = switches.malformed ? image.subarray(0, 16) : image;
    sendBytes(response, 200, bytes, mediaType, { 'finish-reason': finishReason, seed: String(seed), 'x-request-id': requestId });
  }, options.port);

  return Object.assign(server, { switches, submissions });
}

/** `npm run fake -- stability --port N` entry. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startStabilityFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

function validate(
  endpoint: 'ultra' | 'core' | 'sd3' | 'inpaint',
  fields: Record<string, string>,
  files: StabilitySubmission['files'],
): string[] {
  const problems: string[] = [];
  const prompt = fields['prompt'];
  if (prompt === undefined || prompt.length === 0) problems.push('prompt: cannot be empty');
  else if (prompt.length > 10_000) problems.push('prompt: must be at most 10000 characters');
  if ((fields['negative_prompt'] ?? '').length > 10_000) problems.push('negative_prompt: must be at most 10000 characters');
  const aspectRatio = fields['aspect_ratio'];
  if (aspectRatio !== undefined && !(stabilityAspectRatios as readonly string[]).includes(aspectRatio)) {
    problems.push(`aspect_ratio: must be one of ${stabilityAspectRatios.join(', ')}`);
  }
  const formats = endpoint === 'sd3' ? ['jpeg', 'png'] : ['jpeg', 'png', 'webp'];
  const outputFormat = fields['output_format'];
  if (outputFormat !== undefined && !formats.includes(outputFormat)) problems.push(`output_format: must be one of ${formats.join(', ')}`);
  const seed = fields['seed'];
  if (seed !== undefined && (!/^\d+$/.test(seed) || Number(seed) > 4_294_967_294)) problems.push('seed: must be an integer between 0 and 4294967294');
  const stylePreset = fields['style_preset'];
  if (stylePreset !== undefined && !(stabilityStylePresets as readonly string[]).includes(stylePreset)) {
    problems.push(`style_preset: must be one of ${stabilityStylePresets.join(', ')}`);
  }
  if (endpoint === 'sd3') {
    const model = fields['model'];
    if (model !== undefined && !(stabilitySd3Models as readonly string[]).includes(model)) problems.push(`model: must be one of ${stabilitySd3Models.join(', ')}`);
    const mode = fields['mode'] ?? 'text-to-image';
    if (mode !== 'text-to-image' && mode !== 'image-to-image') problems.push("mode: must be 'text-to-image' or 'image-to-image'");
    if (mode === 'image-to-image' && (files['image'] === undefined || fields['strength'] === undefined)) {
      problems.push('image, strength: required when mode is image-to-image');
    }
  }
  if (endpoint === 'inpaint') {
    if (files['image'] === undefined) problems.push('image: required');
    if (aspectRatio !== undefined) problems.push('aspect_ratio: not accepted by inpaint; the output has the dimensions of the input image');
  }
  return problems;
}

function sendStabilityError(response: ServerResponse, status: number, errors: string[], headers: Record<string, string> = {}, name?: string): void {
  sendJson(response, status, { id: randomUUID().replaceAll('-', ''), name: name ?? errorNames[status] ?? 'error', errors }, headers);
}

function headerValue(request: RecordedRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
