// An in-repo fake of the OpenAI Images API and Azure OpenAI's deployment routes, with OpenAI's
// validation rules, error bodies and result shapes, so adapters and SDK clients are tested offline.
//
// Routes:
//   POST /v1/images/generations | /v1/images/edits | /v1/images/variations     Authorization: Bearer <key>
//   POST /openai/deployments/{deployment}/images/generations|edits?api-version  api-key: <key>
//   GET  /files/{id}.{ext}?se=…&sig=…                                           result URLs (signed, expire)
//
// Switches, in OpenAI's wire format (Azure's where it differs):
//   failStatus        that status with OpenAI's (Azure's) error body; 429 carries retry-after
//   hang              the request is never answered
//   moderation        input: the prompt is rejected; output: the generated image is rejected.
//                     gpt-image*: 400 moderation_blocked with moderation_details; other models:
//                     400 content_policy_violation; Azure: 400 content_filter / contentFilter.
//                     A stream (`stream: true`) flagged on output has already answered 200: it
//                     sends its partial images, then `event: error` with the same error object
//   maxImages         at most this many images in `data`
//   malformed         200 with truncated JSON
//   resultUrlTtlMs    result URLs answer 403 AuthenticationFailed (Azure Blob style) after this long
//                     (default 60 minutes, as OpenAI documents)
//   latencyMs         delay before answering every request
//   outOfFunds        429 `insufficient_quota` (no retry-after), as OpenAI answers an account without credit
//   pollsBeforeReady  not applicable: the Images API is synchronous
//
// Streams (`stream: true`, gpt-image models) answer with OpenAI's image events: per image,
// `partial_images` blurred previews (`*.partial_image`), then `*.completed` with usage. `streamGate`
// on the fake holds every completed event until it settles, so a test can watch partials arrive first.

import { randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { delay, makeTestImage, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export const defaultOpenAIFakeApiKey = 'sk-test-openai-fake-0123456789';

export interface OpenAIFakeOptions {
  port?: number;
  apiKey?: string;
  switches?: FakeSwitches;
  /** Azure deployments: deployment name → model. Without it, a deployment name is taken as the model name. */
  azureDeployments?: Record<string, string>;
  /**
   * Behave as a relay that still serves the models OpenAI shut down (`shutDownModels`). Off by
   * default: OpenAI itself answers them 404 model_not_found.
   */
  servesRetiredModels?: boolean;
}

/**
 * Models OpenAI no longer serves, with the date they stopped:
 * - dall-e-2, dall-e-3: "has been deprecated and removed from the API"
 *   (https://developers.openai.com/api/docs/models/dall-e-2, …/dall-e-3), shut down 2026-05-12.
 * - gpt-image-1.5 (and its snapshot), gpt-image-1-mini, chatgpt-image-latest: shutdown date
 *   Dec 1, 2026 on https://developers.openai.com/api/docs/deprecations.
 */
export const shutDownModels: Readonly<Record<string, string>> = {
  'dall-e-2': '2026-05-12',
  'dall-e-3': '2026-05-12',
  'gpt-image-1.5': '2026-12-01',
  'gpt-image-1.5-2025-12-16': '2026-12-01',
  'gpt-image-1-mini': '2026-12-01',
  'chatgpt-image-latest': '2026-12-01',
};

/**
 * OpenAI's answer for a shut-down model: 404 model_not_found. The wording is as clients report it
 * after the DALL·E shutdown ("The model `dall-e-3` has been deprecated. Learn more:
 * https://platform.openai.com/docs/deprecations", dev.to/flarecanary, May 2026); OpenAI's own pages
 * say only "removed from the API".
 */
function shutDownModelError(model: string): RequestRejected {
  return invalidRequest(`The model \`${model}\` has been deprecated. Learn more: https://platform.openai.com/docs/deprecations`, null, 'model_not_found', 404);
}

export interface OpenAIFake extends FakeServer {
  switches: FakeSwitches;
  apiKey: string;
  /** Calls that passed validation and produced images (what a real upstream would bill). */
  readonly imageCalls: number;
  /** When set, streams send their partial images and then wait for it before each completed event. */
  streamGate: Promise<void> | undefined;
  /** Streams whose client went away before the last event was sent (a relay that cancelled upstream). */
  readonly abandonedStreams: number;
}

type Operation = 'generations' | 'edits' | 'variations';
type Dialect = 'openai' | 'azure';
type Family = 'dall-e-2' | 'dall-e-3' | 'gpt-image' | 'gpt-image-2' | 'compatible';
type OutputFormat = 'png' | 'jpeg' | 'webp';

interface ErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
  [extra: string]: unknown;
}

/** A request rejected by validation; rendered as OpenAI's error envelope. */
class RequestRejected extends Error {
  constructor(
    readonly status: number,
    readonly error: ErrorObject,
  ) {
    super(error.message);
  }
}

const invalidRequest = (message: string, param: string | null, code: string | null, status = 400): RequestRejected =>
  new RequestRejected(status, { message, type: 'invalid_request_error', param, code });

interface DecodedImage {
  data: Buffer;
  format: string;
  width: number;
  height: number;
  hasAlpha: boolean;
}

interface ParsedRequest {
  /** JSON values, or the text parts of a multipart body (always strings there). */
  fields: Record<string, unknown>;
  images: DecodedImage[];
  mask?: DecodedImage;
  /** Form part names of the images, for the unknown-parameter check. */
  imageFieldNames: string[];
}

const gptImageSizes = ['1024x1024', '1536x1024', '1024x1536', 'auto'] as const;

interface ModelRules {
  family: Family;
  maxN: number;
  promptMaxLength: number;
  operations: readonly Operation[];
  qualities?: readonly string[];
}

function familyOf(model: string): Family {
  if (model === 'dall-e-2') return 'dall-e-2';
  if (model === 'dall-e-3') return 'dall-e-3';
  if (model.startsWith('gpt-image-2')) return 'gpt-image-2';
  if (model.startsWith('gpt-image') || model.startsWith('chatgpt-image')) return 'gpt-image';
  return 'compatible';
}

function rulesFor(model: string): ModelRules {
  const family = familyOf(model);
  switch (family) {
    case 'dall-e-2':
      return { family, maxN: 10, promptMaxLength: 1000, operations: ['generations', 'edits', 'variations'], qualities: ['standard', 'auto'] };
    case 'dall-e-3':
      return { family, maxN: 1, promptMaxLength: 4000, operations: ['generations'], qualities: ['standard', 'hd', 'auto'] };
    case 'gpt-image':
    case 'gpt-image-2':
      return { family, maxN: 10, promptMaxLength: 32000, operations: ['generations', 'edits'], qualities: ['low', 'medium', 'high', 'auto'] };
    case 'compatible':
      // OpenAI-compatible servers (LocalAI, sd.cpp …) accept whatever they can render.
      return { family, maxN: 10, promptMaxLength: 100_000, operations: ['generations', 'edits', 'variations'] };
  }
}

const knownFields: Record<Operation, ReadonlySet<string>> = {
  generations: new Set(['prompt', 'model', 'n', 'quality', 'response_format', 'output_format', 'output_compression', 'stream', 'partial_images', 'size', 'moderation', 'background', 'style', 'user']),
  // No `moderation` on edits: neither CreateImageEditRequest in OpenAI's OpenAPI file
  // (github.com/openai/openai-openapi, openapi.yaml) nor ImageEditParams in openai-node 6.49 (resources/images.d.ts)
  // has it, and openai-python users report a 400 for it; ImageGenerateParams has it.
  edits: new Set(['image', 'image[]', 'images', 'prompt', 'mask', 'background', 'model', 'n', 'size', 'response_format', 'output_format', 'output_compression', 'user', 'input_fidelity', 'stream', 'partial_images', 'quality']),
  variations: new Set(['image', 'model', 'n', 'response_format', 'size', 'user']),
};

/** Fields a family rejects with 400 unknown_parameter, as the real API does. */
const rejectedByFamily: Record<Family, ReadonlySet<string>> = {
  'dall-e-2': new Set(['style', 'output_format', 'output_compression', 'background', 'moderation', 'stream', 'partial_images', 'input_fidelity']),
  'dall-e-3': new Set(['output_format', 'output_compression', 'background', 'moderation', 'stream', 'partial_images', 'input_fidelity']),
  'gpt-image': new Set(['response_format', 'style']),
  'gpt-image-2': new Set(['response_format', 'style']),
  compatible: new Set(),
};

/** Starts the fake on 127.0.0.1. */
export async function startOpenAIFake(options: OpenAIFakeOptions = {}): Promise<OpenAIFake> {
  const apiKey = options.apiKey ?? defaultOpenAIFakeApiKey;
  const switches: FakeSwitches = options.switches ?? {};
  const issuedFiles = new Map<string, { data: Buffer; contentType: string; expiresAt: number }>();
  let imageCalls = 0;
  let imageSeed = 0;
  let abandonedStreams = 0;

  const server = await startFakeServer(async (request, response, raw) => {
    const host = raw.headers.host ?? '127.0.0.1';
    const url = new URL(request.path, `http://${host}`);
    if (switches.latencyMs) await delay(switches.latencyMs);

    if (request.method === 'GET' && url.pathname.startsWith('/files/')) {
      serveFile(url, response);
      return;
    }

    const route = matchRoute(request.method, url);
    if (!route) {
      sendJson(response, 404, { error: { message: `Invalid URL (${request.method} ${url.pathname})`, type: 'invalid_request_error', param: null, code: null } });
      return;
    }
    const { dialect, operation } = route;
    if (dialect === 'azure') {
      if (!/^\d{4}-\d{2}-\d{2}(-preview)?$/.test(url.searchParams.get('api-version') ?? '')) {
        sendJson(response, 404, { error: { code: '404', message: 'Resource not found' } });
        return;
      }
      if (operation === 'variations') {
        sendJson(response, 404, { error: { code: '404', message: 'Resource not found' } });
        return;
      }
    }
    const requestId = dialect === 'openai' ? `req_${randomBytes(16).toString('hex')}` : randomUUID();
    const idHeaders: Record<string, string> = dialect === 'openai' ? { 'x-request-id': requestId } : { 'apim-request-id': requestId, 'x-request-id': requestId };

    const authFailure = checkAuth(request, dialect);
    if (authFailure) {
      sendJson(response, 401, authFailure, idHeaders);
      return;
    }
    if (switches.hang) return; // Never answered: the client has to time out or abort.
    if (switches.outOfFunds) {
      sendJson(response, 429, insufficientQuotaBody, idHeaders);
      return;
    }
    if (switches.failStatus) {
      const { body, headers } = switchFailure(switches.failStatus, dialect, switches.retryAfterSeconds ?? 1);
      sendJson(response, switches.failStatus, body, { ...idHeaders, ...headers });
      return;
    }

    let deploymentModel: string | undefined;
    if (dialect === 'azure' && route.deployment !== undefined) {
      deploymentModel = options.azureDeployments ? options.azureDeployments[route.deployment] : route.deployment;
      if (deploymentModel === undefined) {
        sendJson(response, 404, {
          error: {
            code: 'DeploymentNotFound',
            message: 'The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.',
          },
        }, idHeaders);
        return;
      }
    }

    try {
      const parsed = await parseRequest(request, operation);
      const call = validate(parsed, operation, deploymentModel, dialect === 'openai' && options.servesRetiredModels !== true);
      const flaggedMidStream = call.stream && switches.moderation === 'output';
      if (switches.moderation && !flaggedMidStream) {
        sendJson(response, 400, moderationBody(call.model, switches.moderation, dialect, requestId), idHeaders);
        return;
      }
      imageCalls += 1;
      const count = Math.min(call.n, switches.maxImages ?? call.n);
      const images = await Promise.all(
        Array.from({ length: count }, () => makeTestImage(call.width, call.height, call.outputFormat, (imageSeed += 1))),
      );
      if (switches.malformed) {
        const payload = '{"created":' + Math.floor(Date.now() / 1000) + ',"data":[{"b64_json":"iVBORw0KGgo';
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload), ...idHeaders });
        response.end(payload);
        return;
      }
      if (call.stream) {
        const failure = flaggedMidStream ? moderationBody(call.model, 'output', dialect, requestId) : undefined;
        await sendStream(response, call, images, operation, idHeaders, {
          gate: () => fake.streamGate,
          failure,
          onAbandoned: () => {
            abandonedStreams += 1;
          },
        });
        return;
      }
      const data = images.map((image) => {
        const item: Record<string, unknown> = {};
        if (call.responseFormat === 'url') item['url'] = issueFile(host, image, call.outputFormat);
        else item['b64_json'] = image.toString('base64');
        if (call.family === 'dall-e-3') item['revised_prompt'] = `A detailed, vivid rendering of the following scene: ${call.prompt}`;
        if (dialect === 'azure') item['content_filter_results'] = safeFilterResults();
        return item;
      });
      const body: Record<string, unknown> = { created: Math.floor(Date.now() / 1000), data };
      if (isGptFamily(call.family)) Object.assign(body, gptResponseExtras(call, images.length));
      sendJson(response, 200, body, idHeaders);
    } catch (error) {
      if (error instanceof RequestRejected) {
        sendJson(response, error.status, { error: error.error }, idHeaders);
        return;
      }
      throw error;
    }
  }, options.port ?? 0);

  function checkAuth(request: RecordedRequest, dialect: Dialect): unknown {
    if (dialect === 'azure') {
      const header = request.headers['api-key'];
      const authorization = request.headers['authorization'];
      if (header === apiKey || authorization === `Bearer ${apiKey}`) return undefined;
      return {
        error: {
          code: '401',
          message: 'Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.',
        },
      };
    }
    const authorization = request.headers['authorization'];
    const presented = typeof authorization === 'string' && authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length).trim() : '';
    if (presented === apiKey) return undefined;
    if (presented === '') {
      return {
        error: {
          message:
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from https://platform.openai.com/account/api-keys.",
          type: 'invalid_request_error',
          param: null,
          code: 'invalid_api_key',
        },
      };
    }
    return {
      error: {
        message: `Incorrect API key provided: ${maskKey(presented)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    };
  }

  function issueFile(host: string, data: Buffer, format: OutputFormat): string {
    const id = `img-${randomBytes(12).toString('hex')}`;
    const expiresAt = Date.now() + (switches.resultUrlTtlMs ?? 60 * 60 * 1000);
    issuedFiles.set(id, { data, contentType: `image/${format}`, expiresAt });
    const signature = randomBytes(16).toString('base64url');
    return `http://${host}/files/${id}.${format === 'jpeg' ? 'jpg' : format}?se=${encodeURIComponent(new Date(expiresAt).toISOString())}&sp=r&sig=${signature}`;
  }

  function serveFile(url: URL, response: ServerResponse): void {
    const id = url.pathname.slice('/files/'.length).replace(/\.[a-z]+$/, '');
    const file = issuedFiles.get(id);
    if (!file) {
      sendBlobError(response, 404, 'BlobNotFound', 'The specified blob does not exist.');
      return;
    }
    if (Date.now() >= file.expiresAt) {
      sendBlobError(response, 403, 'AuthenticationFailed', 'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.');
      return;
    }
    sendBytes(response, 200, file.data, file.contentType);
  }

  const fake: OpenAIFake = {
    ...server,
    switches,
    apiKey,
    get imageCalls() {
      return imageCalls;
    },
    streamGate: undefined,
    get abandonedStreams() {
      return abandonedStreams;
    },
  };
  return fake;
}

/** Entry point for `npm run fake -- openai --port N`. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startOpenAIFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

function matchRoute(method: string, url: URL): { dialect: Dialect; operation: Operation; deployment?: string } | undefined {
  if (method !== 'POST') return undefined;
  const openai = /^\/v1\/images\/(generations|edits|variations)$/.exec(url.pathname);
  if (openai) return { dialect: 'openai', operation: openai[1] as Operation };
  const azure = /^\/openai\/deployments\/([^/]+)\/images\/(generations|edits|variations)$/.exec(url.pathname);
  if (azure) return { dialect: 'azure', operation: azure[2] as Operation, deployment: decodeURIComponent(azure[1] ?? '') };
  return undefined;
}

function maskKey(key: string): string {
  if (key.length < 10) return '***';
  return `${key.slice(0, 5)}***${key.slice(-2)}`;
}

/**
 * An account without credit. Body quoted from OpenAI's error-codes guide ("429 - You exceeded your
 * current quota, please check your plan and billing details",
 * https://platform.openai.com/docs/guides/error-codes/api-errors) as API clients report it
 * (e.g. ChatGPTNextWeb/NextChat#3123): no retry-after, since waiting does not help.
 */
const insufficientQuotaBody = {
  error: {
    message: 'You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.',
    type: 'insufficient_quota',
    param: null,
    code: 'insufficient_quota',
  },
};

function switchFailure(status: number, dialect: Dialect, retryAfterSeconds: number): { body: unknown; headers: Record<string, string> } {
  const retryAfter: Record<string, string> = status === 429 ? { 'retry-after': String(retryAfterSeconds) } : {};
  if (dialect === 'azure') {
    if (status === 429) {
      return {
        body: { error: { code: '429', message: `Requests to the Images_Generations Operation under Azure OpenAI API have exceeded call rate limit of your current pricing tier. Please retry after ${retryAfterSeconds} seconds.` } },
        headers: retryAfter,
      };
    }
    if (status >= 500) return { body: { error: { code: 'InternalServerError', message: 'The service is temporarily unable to process your request. Please try again later.' } }, headers: {} };
    return { body: { error: { code: String(status), message: `Request failed with status ${status}.` } }, headers: {} };
  }
  if (status === 429) {
    return {
      body: {
        error: {
          message: `Rate limit reached for images per minute in organization org-fake on images per min (ipm): Limit 5, Used 5, Requested 1. Please try again in ${retryAfterSeconds}s.`,
          type: 'requests',
          param: null,
          code: 'rate_limit_exceeded',
        },
      },
      headers: retryAfter,
    };
  }
  if (status === 500) return { body: { error: { message: 'The server had an error while processing your request. Sorry about that!', type: 'server_error', param: null, code: null } }, headers: {} };
  if (status >= 500) return { body: { error: { message: 'The engine is currently overloaded, please try again later.', type: 'server_error', param: null, code: null } }, headers: {} };
  if (status === 403) return { body: { error: { message: 'Country, region, or territory not supported', type: 'request_forbidden', param: null, code: 'unsupported_country_region_territory' } }, headers: {} };
  return { body: { error: { message: `Request failed with status ${status}.`, type: 'invalid_request_error', param: null, code: null } }, headers: {} };
}

function sendBlobError(response: ServerResponse, status: number, code: string, message: string): void {
  const body = `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${randomUUID()}\nTime:${new Date().toISOString()}</Message></Error>`;
  sendBytes(response, status, Buffer.from(body), 'application/xml');
}

async function decodeImage(data: Buffer, label: string, param: string): Promise<DecodedImage> {
  try {
    const metadata = await sharp(data).metadata();
    if (!metadata.format || !metadata.width || !metadata.height) throw new Error('no dimensions');
    return { data, format: metadata.format, width: metadata.width, height: metadata.height, hasAlpha: metadata.hasAlpha ?? false };
  } catch {
    throw invalidRequest(`Invalid image file or mode for ${label}, please check your image file.`, param, 'invalid_image');
  }
}

async function parseRequest(request: RecordedRequest, operation: Operation): Promise<ParsedRequest> {
  const contentType = String(request.headers['content-type'] ?? '');
  if (contentType.includes('application/json')) {
    if (operation === 'variations') throw invalidRequest(`Invalid Content-Type header (${contentType}), expected multipart/form-data.`, null, null);
    if (request.json === undefined || typeof request.json !== 'object' || request.json === null || Array.isArray(request.json)) {
      throw invalidRequest(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
        null,
        null,
      );
    }
    const fields = { ...(request.json as Record<string, unknown>) };
    const parsed: ParsedRequest = { fields, images: [], imageFieldNames: [] };
    if (operation === 'edits') {
      // The JSON edit form: images as {image_url: "data:…"} references (file ids need the Files API).
      const references = fields['images'];
      if (Array.isArray(references)) {
        for (const [index, reference] of references.entries()) parsed.images.push(await decodeReference(reference, `image ${index + 1}`, 'images'));
      }
      if (fields['mask'] !== undefined) parsed.mask = await decodeReference(fields['mask'], 'mask', 'mask');
      delete fields['mask'];
    }
    return parsed;
  }
  if (contentType.includes('multipart/form-data')) {
    if (operation === 'generations') throw invalidRequest(`Invalid Content-Type header (${contentType}), expected application/json.`, null, null);
    let form: FormData;
    try {
      form = await new Response(request.body, { headers: { 'content-type': contentType } }).formData();
    } catch {
      throw invalidRequest('Could not parse multipart form', null, null);
    }
    const parsed: ParsedRequest = { fields: {}, images: [], imageFieldNames: [] };
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') {
        parsed.fields[name] = value;
        continue;
      }
      const data = Buffer.from(await value.arrayBuffer());
      if (name === 'image' || name === 'image[]') {
        parsed.imageFieldNames.push(name);
        parsed.images.push(await decodeImage(data, `image ${parsed.images.length + 1}`, name));
      } else if (name === 'mask') {
        parsed.mask = await decodeImage(data, 'mask', 'mask');
      } else {
        throw invalidRequest(`Unknown parameter: '${name}'.`, name, 'unknown_parameter');
      }
    }
    return parsed;
  }
  throw invalidRequest(`Invalid Content-Type header (${contentType || 'none'}), expected ${operation === 'generations' ? 'application/json' : 'multipart/form-data'}.`, null, null);
}

async function decodeReference(reference: unknown, label: string, param: string): Promise<DecodedImage> {
  const imageUrl = typeof reference === 'object' && reference !== null ? (reference as Record<string, unknown>)['image_url'] : undefined;
  const match = typeof imageUrl === 'string' ? /^data:image\/[a-z]+;base64,(.+)$/.exec(imageUrl) : null;
  if (!match?.[1]) throw invalidRequest(`Invalid '${param}': only data: image URLs are supported by this server.`, param, 'invalid_image_url');
  return decodeImage(Buffer.from(match[1], 'base64'), label, param);
}

interface ValidatedCall {
  model: string;
  family: Family;
  prompt: string;
  n: number;
  width: number;
  height: number;
  outputFormat: OutputFormat;
  responseFormat: 'url' | 'b64_json';
  quality: string;
  background: string;
  stream: boolean;
  partialImages: number;
  inputImages: number;
}

function readString(fields: Record<string, unknown>, name: string): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidRequest(`Invalid type for '${name}': expected a string, but got ${describeType(value)} instead.`, name, 'invalid_type');
  return value;
}

function readInteger(fields: Record<string, unknown>, name: string): number | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  const number = typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isInteger(number)) {
    throw invalidRequest(`Invalid type for '${name}': expected an integer, but got ${describeType(value)} instead.`, name, 'invalid_type');
  }
  return number;
}

function readBoolean(fields: Record<string, unknown>, name: string): boolean | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return undefined;
  if (value === true || value === 'true') return true;
  if (value === false || value === 'false') return false;
  throw invalidRequest(`Invalid type for '${name}': expected a boolean, but got ${describeType(value)} instead.`, name, 'invalid_type');
}

function describeType(value: unknown): string {
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a decimal';
  if (typeof value === 'boolean') return 'a boolean';
  if (Array.isArray(value)) return 'an array';
  return 'an object';
}

function oneOf(fields: Record<string, unknown>, name: string, allowed: readonly string[]): string | undefined {
  const value = readString(fields, name);
  if (value !== undefined && !allowed.includes(value)) {
    throw invalidRequest(`Invalid value: '${value}'. Supported values are: ${listValues(allowed)}.`, name, 'invalid_value');
  }
  return value;
}

function listValues(values: readonly string[]): string {
  const quoted = values.map((value) => `'${value}'`);
  return quoted.length <= 1 ? quoted.join('') : `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}`;
}

const isGptFamily = (family: Family): boolean => family === 'gpt-image' || family === 'gpt-image-2';

/** input_fidelity: gpt-image-1 and gpt-image-1.5 (OpenAPI InputFidelity); not mini, not gpt-image-2 and later (observed). */
const supportsInputFidelity = (model: string): boolean => familyOf(model) === 'compatible' || /^gpt-image-1(\.5)?(-\d{4}-\d{2}-\d{2})?$/.test(model);

function validate(parsed: ParsedRequest, operation: Operation, deploymentModel: string | undefined, refuseShutDown: boolean): ValidatedCall {
  const { fields } = parsed;
  const requestedModel = readString(fields, 'model');
  const model = deploymentModel ?? requestedModel ?? (operation === 'edits' ? 'gpt-image-1.5' : 'dall-e-2');
  if (refuseShutDown && shutDownModels[model] !== undefined) throw shutDownModelError(model);
  const rules = rulesFor(model);
  const { family } = rules;

  if (family !== 'compatible') {
    for (const name of [...Object.keys(fields), ...parsed.imageFieldNames]) {
      if (!knownFields[operation].has(name) || rejectedByFamily[family].has(name)) {
        throw invalidRequest(`Unknown parameter: '${name}'.`, name, 'unknown_parameter');
      }
    }
  }
  if (!rules.operations.includes(operation)) {
    const supported = ['dall-e-2', 'dall-e-3', 'gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5', 'gpt-image-2', 'chatgpt-image-latest'].filter((name) =>
      rulesFor(name).operations.includes(operation),
    );
    throw invalidRequest(`Invalid value: '${model}'. Supported values are: ${listValues(supported)}.`, 'model', 'invalid_value');
  }

  let prompt = '';
  if (operation !== 'variations') {
    const value = readString(fields, 'prompt');
    if (value === undefined) throw invalidRequest("Missing required parameter: 'prompt'.", 'prompt', 'missing_required_parameter');
    if (value.length === 0) throw invalidRequest("Invalid 'prompt': empty string. Expected a string with minimum length 1, but got an empty string instead.", 'prompt', 'empty_string');
    if (value.length > rules.promptMaxLength) {
      throw invalidRequest(
        `Invalid 'prompt': string too long. Expected a string with maximum length ${rules.promptMaxLength}, but got a string with length ${value.length} instead.`,
        'prompt',
        'string_above_max_length',
      );
    }
    prompt = value;
  }

  const n = readInteger(fields, 'n') ?? 1;
  if (n < 1) throw invalidRequest(`Invalid 'n': integer below minimum value. Expected a value >= 1, but got ${n} instead.`, 'n', 'integer_below_min_value');
  if (n > 10) throw invalidRequest(`Invalid 'n': integer above maximum value. Expected a value <= 10, but got ${n} instead.`, 'n', 'integer_above_max_value');
  if (n > rules.maxN) throw invalidRequest('You must provide n=1 for this model.', 'n', 'invalid_value');

  if (operation !== 'generations') {
    if (parsed.images.length === 0) throw invalidRequest("Missing required parameter: 'image'.", 'image', 'missing_required_parameter');
    const maxImages = isGptFamily(family) || family === 'compatible' ? 16 : 1;
    if (parsed.images.length > maxImages) {
      throw invalidRequest(
        `Invalid 'image': array too long. Expected an array with maximum length ${maxImages}, but got an array with length ${parsed.images.length} instead.`,
        'image',
        'array_above_max_length',
      );
    }
    for (const [index, image] of parsed.images.entries()) {
      if (family === 'dall-e-2' && (image.format !== 'png' || image.width !== image.height)) {
        throw invalidRequest(`Invalid input image - image ${index + 1} must be a square PNG file.`, 'image', 'invalid_image');
      }
      if (isGptFamily(family) && !['png', 'jpeg', 'webp'].includes(image.format)) {
        throw invalidRequest(`Invalid image file or mode for image ${index + 1}, please check your image file.`, 'image', 'invalid_image_format');
      }
    }
    const first = parsed.images[0];
    if (parsed.mask && first) {
      if (parsed.mask.format !== 'png') throw invalidRequest('Invalid mask image - the mask must be a PNG file.', 'mask', 'invalid_image_format');
      if (parsed.mask.width !== first.width || parsed.mask.height !== first.height) {
        throw invalidRequest('Invalid mask image - the mask must have the same dimensions as the image.', 'mask', 'invalid_value');
      }
    }
    if (family === 'dall-e-2' && operation === 'edits' && !parsed.mask && first && !first.hasAlpha) {
      throw invalidRequest("Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB.", 'image', 'invalid_image');
    }
  }

  const size = readString(fields, 'size');
  const [width, height] = resolveSize(size, family);

  const quality = rules.qualities ? oneOf(fields, 'quality', rules.qualities) : readString(fields, 'quality');
  if (family === 'dall-e-3') oneOf(fields, 'style', ['vivid', 'natural']);
  // GPT image models always answer with b64_json (sending response_format to them was rejected above).
  const responseFormat = isGptFamily(family) ? 'b64_json' : (oneOf(fields, 'response_format', ['url', 'b64_json']) ?? 'url');
  const outputFormat = (oneOf(fields, 'output_format', ['png', 'jpeg', 'webp']) ?? 'png') as OutputFormat;
  const compression = readInteger(fields, 'output_compression');
  if (compression !== undefined && (compression < 0 || compression > 100)) {
    throw invalidRequest(`Invalid 'output_compression': expected a value between 0 and 100, but got ${compression} instead.`, 'output_compression', 'invalid_value');
  }
  const background = oneOf(fields, 'background', ['transparent', 'opaque', 'auto']) ?? 'auto';
  if (background === 'transparent' && outputFormat === 'jpeg') {
    throw invalidRequest("Transparent background is not supported for output_format 'jpeg'. Use 'png' or 'webp'.", 'background', 'invalid_value');
  }
  oneOf(fields, 'moderation', ['low', 'auto']);
  if (operation === 'edits' && fields['input_fidelity'] !== undefined && !supportsInputFidelity(model)) {
    // Observed answer (400 invalid_input_fidelity_model, "does not support the 'input_fidelity'
    // parameter") reported from live calls to gpt-image-2-2026-04-21 and gpt-image-2.5 in several
    // public projects; the OpenAPI file's InputFidelity says "unsupported for gpt-image-1-mini".
    throw invalidRequest(`The model '${model}' does not support the 'input_fidelity' parameter.`, 'input_fidelity', 'invalid_input_fidelity_model');
  }
  if (operation === 'edits') oneOf(fields, 'input_fidelity', ['high', 'low']);
  readString(fields, 'user');
  const stream = readBoolean(fields, 'stream') ?? false;
  if (stream && !isGptFamily(family)) throw invalidRequest(`Streaming is not supported for model '${model}'.`, 'stream', 'invalid_value');
  const partialImages = readInteger(fields, 'partial_images') ?? 0;
  if (partialImages < 0 || partialImages > 3) throw invalidRequest(`Invalid 'partial_images': expected a value between 0 and 3, but got ${partialImages} instead.`, 'partial_images', 'invalid_value');

  return {
    model,
    family,
    prompt,
    n,
    width,
    height,
    outputFormat: isGptFamily(family) || family === 'compatible' ? outputFormat : 'png',
    responseFormat: responseFormat === 'b64_json' ? 'b64_json' : 'url',
    quality: resolvedQuality(quality),
    background: background === 'auto' ? 'opaque' : background,
    stream,
    partialImages,
    inputImages: parsed.images.length,
  };
}

/** The quality a response reports: never `auto`; DALL·E's names folded onto the GPT scale. */
function resolvedQuality(quality: string | undefined): string {
  if (quality === 'hd') return 'high';
  if (quality === 'low' || quality === 'medium' || quality === 'high') return quality;
  return 'medium';
}

function resolveSize(size: string | undefined, family: Family): [number, number] {
  const parsed = size === undefined || size === 'auto' ? undefined : /^(\d+)x(\d+)$/.exec(size);
  const dimensions = parsed ? ([Number(parsed[1]), Number(parsed[2])] as [number, number]) : undefined;
  switch (family) {
    case 'dall-e-2': {
      const allowed = ['256x256', '512x512', '1024x1024'];
      if (size !== undefined && !allowed.includes(size)) throw invalidRequest(`Invalid value: '${size}'. Supported values are: ${listValues(allowed)}.`, 'size', 'invalid_value');
      return dimensions ?? [1024, 1024];
    }
    case 'dall-e-3': {
      if (size !== undefined && !['1024x1024', '1792x1024', '1024x1792'].includes(size)) throw invalidRequest('The size is not supported by this model.', null, 'invalid_size');
      return dimensions ?? [1024, 1024];
    }
    case 'gpt-image': {
      if (size !== undefined && !(gptImageSizes as readonly string[]).includes(size)) {
        throw invalidRequest(`Invalid value: '${size}'. Supported values are: ${listValues(gptImageSizes)}.`, 'size', 'invalid_value');
      }
      return dimensions ?? [1024, 1024];
    }
    case 'gpt-image-2': {
      if (size === undefined || size === 'auto') return [1024, 1024];
      const problem = !dimensions
        ? 'size must be auto or WIDTHxHEIGHT'
        : gptImage2Problem(dimensions[0], dimensions[1]);
      if (problem || !dimensions) throw invalidRequest(`Invalid value: '${size}'. ${problem}.`, 'size', 'invalid_value');
      return dimensions;
    }
    case 'compatible': {
      if (size === undefined || size === 'auto') return [1024, 1024];
      if (!dimensions || dimensions[0] < 64 || dimensions[1] < 64 || dimensions[0] > 4096 || dimensions[1] > 4096) {
        throw invalidRequest(`Invalid value: '${size}'. Expected WIDTHxHEIGHT with edges between 64 and 4096.`, 'size', 'invalid_value');
      }
      return dimensions;
    }
  }
}

function gptImage2Problem(width: number, height: number): string | undefined {
  if (width % 16 !== 0 || height % 16 !== 0) return 'Width and height must be multiples of 16';
  if (Math.max(width, height) / Math.min(width, height) > 3) return 'The aspect ratio must be between 1:3 and 3:1';
  if (Math.max(width, height) > 3840) return 'The longest edge must be at most 3840 pixels';
  const pixels = width * height;
  if (pixels < 655_360 || pixels > 8_294_400) return 'The total number of pixels must be between 655360 and 8294400';
  return undefined;
}

/** Approximate token accounting in OpenAI's shape (output tokens scale with quality and area). */
function usageOf(call: ValidatedCall, images: number): Record<string, unknown> {
  const perMegapixel = call.quality === 'low' ? 272 : call.quality === 'high' ? 4160 : 1056;
  const outputTokens = Math.round((perMegapixel * call.width * call.height) / (1024 * 1024)) * images;
  const textTokens = Math.ceil(call.prompt.length / 4);
  const imageTokens = call.inputImages * 323;
  return {
    input_tokens: textTokens + imageTokens,
    output_tokens: outputTokens,
    total_tokens: textTokens + imageTokens + outputTokens,
    input_tokens_details: { text_tokens: textTokens, image_tokens: imageTokens },
    output_tokens_details: { image_tokens: outputTokens, text_tokens: 0 },
  };
}

function gptResponseExtras(call: ValidatedCall, images: number): Record<string, unknown> {
  return {
    background: call.background,
    output_format: call.outputFormat,
    size: `${call.width}x${call.height}`,
    quality: call.quality,
    usage: usageOf(call, images),
  };
}

interface StreamOptions {
  /** Read before each completed event; when it returns a promise, the event waits for it. */
  gate: () => Promise<void> | undefined;
  /** An error body (`{error:{…}}`) sent as `event: error` after the first image's partials, ending the stream. */
  failure: unknown;
  /** Called as soon as the client goes away before the last event. */
  onAbandoned: () => void;
}

/** OpenAI's image event stream. */
async function sendStream(
  response: ServerResponse,
  call: ValidatedCall,
  images: Buffer[],
  operation: Operation,
  headers: Record<string, string>,
  options: StreamOptions,
): Promise<void> {
  const prefix = operation === 'edits' ? 'image_edit' : 'image_generation';
  response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...headers });
  let clientLeft = false;
  response.on('close', () => {
    if (response.writableFinished) return;
    clientLeft = true;
    options.onAbandoned();
  });
  const send = (name: string, data: unknown): void => {
    if (!clientLeft) response.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const common = {
    created_at: Math.floor(Date.now() / 1000),
    size: `${call.width}x${call.height}`,
    quality: call.quality,
    background: call.background,
    output_format: call.outputFormat,
  };
  for (const image of images) {
    for (let index = 0; index < call.partialImages; index += 1) {
      const preview = await blurredPreview(image, call.outputFormat, index, call.partialImages);
      send(`${prefix}.partial_image`, { type: `${prefix}.partial_image`, b64_json: preview.toString('base64'), partial_image_index: index, ...common });
    }
    if (options.failure !== undefined) {
      send('error', { type: 'error', ...(options.failure as Record<string, unknown>) });
      break;
    }
    await options.gate();
    const usage = usageOf(call, 1);
    delete usage['output_tokens_details'];
    send(`${prefix}.completed`, { type: `${prefix}.completed`, b64_json: image.toString('base64'), ...common, usage });
  }
  response.end();
}

/** Preview `index` of `count`: the final image blurred, less so at each step, so previews differ from it. */
function blurredPreview(image: Buffer, format: OutputFormat, index: number, count: number): Promise<Buffer> {
  const sigma = 2 + (20 * (count - index)) / count;
  return sharp(image).blur(sigma).toFormat(format).toBuffer();
}

function safeFilterResults(): Record<string, unknown> {
  const safe = { filtered: false, severity: 'safe' };
  return { hate: safe, self_harm: safe, sexual: safe, violence: safe };
}

function moderationBody(model: string, stage: 'input' | 'output', dialect: Dialect, requestId: string): unknown {
  if (dialect === 'azure') {
    const flagged = { ...safeFilterResults(), sexual: { filtered: true, severity: 'high' } };
    if (stage === 'input') {
      return {
        error: {
          code: 'content_filter',
          message:
            "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
          param: 'prompt',
          type: null,
          status: 400,
          inner_error: { code: 'ResponsibleAIPolicyViolation', content_filter_results: flagged },
        },
      };
    }
    return {
      error: {
        code: 'contentFilter',
        message: 'Generated image was filtered as a result of our safety system.',
        inner_error: { code: 'ResponsibleAIPolicyViolation', content_filter_results: flagged },
      },
    };
  }
  if (isGptFamily(familyOf(model))) {
    return {
      error: {
        message: `Your request was rejected by the safety system. If you believe this is an error, contact us at help.openai.com and include the request ID ${requestId}. safety_violations=[sexual].`,
        type: 'image_generation_user_error',
        param: null,
        code: 'moderation_blocked',
        moderation_details: { moderation_stage: stage, categories: ['sexual'] },
      },
    };
  }
  return {
    error: {
      message:
        stage === 'input'
          ? 'Your request was rejected as a result of our safety system. Your prompt may contain text that is not allowed by our safety system.'
          : 'Your request was rejected as a result of our safety system. The generated image may contain content that is not allowed by our safety system.',
      type: 'invalid_request_error',
      param: null,
      code: 'content_policy_violation',
    },
  };
}
