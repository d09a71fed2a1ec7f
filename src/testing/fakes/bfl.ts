// An in-repo fake of the Black Forest Labs FLUX API (submit → poll → signed result URL), wire-compatible
// with BFL's API reference (https://docs.bfl.ai, OpenAPI at https://api.bfl.ai/openapi.json; polling and
// delivery hosts as in github.com/black-forest-labs/skills skills/bfl-api/references/polling-patterns.md),
// so the BFL adapter and the gateway are tested at the network layer.

import { randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { systemClock, type Clock } from '../../core/ports/clock.js';
import { delay, makeTestImage, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

/** The key the fake accepts when none is given. */
export const bflFakeApiKey = 'bfl_fake_key';

/** BFL allows this many unfinished tasks per key before answering 429. */
const defaultMaxActiveTasks = 24;
/** Signed result URLs expire after 10 minutes at BFL. */
const defaultResultUrlTtlMs = 10 * 60 * 1000;

/** BFL-only switches on top of the common ones. */
export interface BflFakeSwitches extends FakeSwitches {
  /** End every new task in status `Error` with this text in `details` (the job ran and failed). */
  taskError?: string;
  /**
   * Polls answer this status, outside BFL's `StatusResponse` enum (a status added after a client
   * was written), until the switch is cleared.
   */
  unknownStatus?: string;
}

export interface BflFakeOptions {
  port?: number;
  apiKey?: string;
  switches?: BflFakeSwitches;
  /**
   * Host name written into `polling_url`. It differs from the 127.0.0.1 of the submit base on
   * purpose, the way BFL answers with a shard host (api.us1.bfl.ai), so a client that rebuilds the
   * URL from its own base instead of polling it verbatim is caught by the recorded Host header.
   */
  pollingHost?: string;
  maxActiveTasks?: number;
  /** Time source for result URL expiry, so tests can move past it without sleeping. */
  clock?: Clock;
}

export interface BflFakeTask {
  id: string;
  model: string;
  /** The submitted JSON body, as received. */
  body: Record<string, unknown>;
  width: number;
  height: number;
  outputFormat: 'jpeg' | 'png';
  seed: number;
  polls: number;
  /** Set when the task reached a terminal status. */
  finalStatus?: string;
  moderation?: 'input' | 'output';
  taskError?: string;
  withoutSample: boolean;
  resultIssuedAt?: number;
  resultSignature?: string;
  resultImage?: Buffer;
}

export interface BflFake extends FakeServer {
  switches: BflFakeSwitches;
  /** The host:port that polling URLs name. */
  readonly pollingBase: string;
  /** Accepted submissions (tasks created). */
  readonly submissions: number;
  /** GET /v1/get_result requests received, authenticated or not. */
  readonly polls: number;
  /** Result image downloads served successfully. */
  readonly downloads: number;
  tasks: Map<string, BflFakeTask>;
}

type Family = 'classic' | 'flux2' | 'ultra' | 'kontext';

const familyOfModel: Record<string, Family> = {
  'flux-pro-1.1': 'classic',
  'flux-pro': 'classic',
  'flux-dev': 'classic',
  'flux-pro-1.1-ultra': 'ultra',
  'flux-kontext-pro': 'kontext',
  'flux-kontext-max': 'kontext',
  'flux-2-pro': 'flux2',
  'flux-2-max': 'flux2',
  'flux-2-flex': 'flux2',
  'flux-2-klein-4b': 'flux2',
  'flux-2-klein-9b': 'flux2',
};

/** Credits per image (FLUX.1) or for the first megapixel (FLUX.2), from BFL's price list (https://docs.bfl.ai/quick_start/pricing). */
const creditsOfModel: Record<string, number> = {
  'flux-pro-1.1': 4,
  'flux-pro': 5,
  'flux-dev': 2.5,
  'flux-pro-1.1-ultra': 6,
  'flux-kontext-pro': 4,
  'flux-kontext-max': 8,
  'flux-2-pro': 3,
  'flux-2-max': 7,
  'flux-2-flex': 5,
  'flux-2-klein-4b': 1.4,
  'flux-2-klein-9b': 1.5,
};

/** FLUX.2 output limit: 4 megapixels (2048 × 2048). */
const flux2MaxPixels = 2048 * 2048;

interface ValidationIssue {
  type: string;
  loc: (string | number)[];
  msg: string;
  input: unknown;
  ctx?: Record<string, unknown>;
}

/** Starts the fake on 127.0.0.1; every switch can be flipped on `fake.switches` while it runs. */
export async function startBflFake(options: BflFakeOptions = {}): Promise<BflFake> {
  const apiKey = options.apiKey ?? bflFakeApiKey;
  const switches: BflFakeSwitches = options.switches ?? {};
  const clock = options.clock ?? systemClock;
  const maxActiveTasks = options.maxActiveTasks ?? defaultMaxActiveTasks;
  const pollingHost = options.pollingHost ?? 'localhost';
  const tasks = new Map<string, BflFakeTask>();
  let submissions = 0;
  let polls = 0;
  let downloads = 0;

  const server = await startFakeServer(async (request, response) => {
    const url = new URL(request.path, 'http://fake.invalid');
    if (switches.latencyMs !== undefined && switches.latencyMs > 0) await delay(switches.latencyMs);

    if (request.method === 'GET' && url.pathname.startsWith('/results/')) {
      serveResult(url, response);
      return;
    }
    if (request.method === 'GET' && url.pathname === '/v1/get_result') {
      polls += 1;
      if (switches.hang) return;
      if (!authenticated(request, response)) return;
      answerPoll(url.searchParams.get('id') ?? '', response);
      return;
    }
    const modelMatch = /^\/v1\/([a-z0-9.-]+)$/.exec(url.pathname);
    if (request.method === 'POST' && modelMatch !== null) {
      if (switches.hang) return;
      if (!authenticated(request, response)) return;
      await answerSubmit(modelMatch[1] ?? '', request, response);
      return;
    }
    // FastAPI's own answer for a route it does not have.
    sendJson(response, 404, { detail: 'Not Found' });
  }, options.port);

  const pollingBase = `http://${pollingHost}:${new URL(server.url).port}`;

  /** BFL's FastAPI key check answers 403 with a `detail` string, for a missing and for a wrong key. */
  function authenticated(request: RecordedRequest, response: ServerResponse): boolean {
    const key = request.headers['x-key'];
    if (typeof key !== 'string' || key.length === 0) {
      sendJson(response, 403, { detail: 'Not authenticated' });
      return false;
    }
    if (key !== apiKey) {
      sendJson(response, 403, { detail: 'Not authenticated - Invalid Authentication' });
      return false;
    }
    return true;
  }

  function sendFailStatus(status: number, response: ServerResponse): void {
    if (status === 422) {
      sendJson(response, 422, { detail: [{ type: 'value_error', loc: ['body'], msg: 'Value error, request rejected by the fake', input: null }] });
      return;
    }
    if (status === 429) {
      const headers: Record<string, string> = switches.retryAfterSeconds === undefined ? {} : { 'retry-after': String(switches.retryAfterSeconds) };
      sendJson(response, 429, { detail: `You have reached the limit of ${maxActiveTasks} active tasks. Please wait for some to finish.` }, headers);
      return;
    }
    const detailOfStatus: Record<number, string> = {
      400: 'Bad Request',
      402: 'Insufficient credits. Please add credits at https://api.bfl.ai.',
      403: 'Not authenticated - Invalid Authentication',
      500: 'Internal Server Error',
      502: 'Bad Gateway',
      503: 'Service Unavailable',
    };
    sendJson(response, status, { detail: detailOfStatus[status] ?? `Error ${status}` });
  }

  async function answerSubmit(model: string, request: RecordedRequest, response: ServerResponse): Promise<void> {
    const family = familyOfModel[model];
    if (family === undefined) {
      sendJson(response, 404, { detail: 'Not Found' });
      return;
    }
    if (switches.failStatus !== undefined) {
      sendFailStatus(switches.failStatus, response);
      return;
    }
    const body = request.json;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      sendJson(response, 422, {
        detail: [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: request.body.toString('utf8') }],
      });
      return;
    }
    const fields = body as Record<string, unknown>;
    const issues: ValidationIssue[] = [];
    validateCommon(fields, family, issues);
    checkReferenceSlots(fields, model, issues);
    const size = await resolveSize(fields, family, issues);
    if (issues.length > 0 || size === undefined) {
      sendJson(response, 422, { detail: issues });
      return;
    }
    const active = [...tasks.values()].filter((task) => task.finalStatus === undefined).length;
    if (active >= maxActiveTasks) {
      sendFailStatus(429, response);
      return;
    }
    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"id":"');
      return;
    }

    const id = randomUUID();
    const outputFormat = (fields.output_format as 'jpeg' | 'png' | undefined) ?? (family === 'kontext' ? 'png' : 'jpeg');
    const seed = typeof fields.seed === 'number' ? fields.seed : Math.floor(Math.random() * 2 ** 31);
    const task: BflFakeTask = {
      id,
      model,
      body: fields,
      width: size.width,
      height: size.height,
      outputFormat,
      seed,
      polls: 0,
      withoutSample: switches.maxImages !== undefined && switches.maxImages < 1,
      ...(switches.moderation === undefined ? {} : { moderation: switches.moderation }),
      ...(switches.taskError === undefined ? {} : { taskError: switches.taskError }),
    };
    tasks.set(id, task);
    submissions += 1;
    const outputMegapixels = Math.round((size.width * size.height) / 10_000) / 100;
    const baseCredits = creditsOfModel[model] ?? 4;
    // FLUX.2 is billed per megapixel; FLUX.1 per image (https://docs.bfl.ai/quick_start/pricing).
    const cost = family === 'flux2' ? Math.round((baseCredits + Math.max(0, outputMegapixels - 1) * (baseCredits / 2)) * 10) / 10 : baseCredits;
    sendJson(response, 200, { id, polling_url: `${pollingBase}/v1/get_result?id=${id}`, cost, input_mp: 0, output_mp: outputMegapixels });
  }

  function answerPoll(id: string, response: ServerResponse): void {
    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"id":"' + id + '","status":"Rea');
      return;
    }
    const task = tasks.get(id);
    if (task === undefined) {
      sendJson(response, 200, { id, status: 'Task not found', result: null, progress: null, details: null, preview: null });
      return;
    }
    task.polls += 1;
    if (switches.unknownStatus !== undefined) {
      sendJson(response, 200, { id, status: switches.unknownStatus, result: null, progress: null, details: null, preview: null });
      return;
    }
    // A flagged prompt is refused before any work, so input moderation is reported on the first poll.
    if (task.moderation === 'input') {
      task.finalStatus = 'Request Moderated';
      sendJson(response, 200, { id, status: 'Request Moderated', result: null, progress: null, details: { 'Moderation Reasons': ['Derivative Works Filter'] }, preview: null });
      return;
    }
    const pollsBeforeReady = switches.pollsBeforeReady ?? 2;
    if (task.polls <= pollsBeforeReady) {
      const progress = Math.round((task.polls / (pollsBeforeReady + 1)) * 100) / 100;
      sendJson(response, 200, { id, status: 'Pending', result: null, progress, details: null, preview: null });
      return;
    }
    if (task.moderation === 'output') {
      task.finalStatus = 'Content Moderated';
      sendJson(response, 200, { id, status: 'Content Moderated', result: null, progress: null, details: { 'Moderation Reasons': ['Sexual Content'] }, preview: null });
      return;
    }
    if (task.taskError !== undefined) {
      task.finalStatus = 'Error';
      sendJson(response, 200, { id, status: 'Error', result: null, progress: null, details: task.taskError, preview: null });
      return;
    }
    task.finalStatus = 'Ready';
    if (task.withoutSample) {
      sendJson(response, 200, { id, status: 'Ready', result: { prompt: task.body.prompt, seed: task.seed }, progress: null, details: null, preview: null });
      return;
    }
    if (task.resultIssuedAt === undefined) {
      task.resultIssuedAt = clock.now();
      task.resultSignature = randomBytes(16).toString('hex');
    }
    const expiry = new Date(task.resultIssuedAt + (switches.resultUrlTtlMs ?? defaultResultUrlTtlMs)).toISOString();
    // Azure-SAS style query like BFL's delivery URLs; served from the submit host, not the polling host.
    const sample = `${server.url}/results/${id}/sample.${task.outputFormat === 'png' ? 'png' : 'jpg'}?se=${encodeURIComponent(expiry)}&sp=r&sig=${task.resultSignature}`;
    const seconds = (task.polls * 0.5).toFixed(1);
    sendJson(response, 200, {
      id,
      status: 'Ready',
      result: { sample, prompt: task.body.prompt, seed: task.seed, start_time: task.resultIssuedAt / 1000 - Number(seconds), end_time: task.resultIssuedAt / 1000, duration: Number(seconds) },
      progress: null,
      details: null,
      preview: null,
    });
  }

  function serveResult(url: URL, response: ServerResponse): void {
    const match = /^\/results\/([0-9a-f-]+)\/sample\.(png|jpg)$/.exec(url.pathname);
    const task = match === null ? undefined : tasks.get(match[1] ?? '');
    const issuedAt = task?.resultIssuedAt;
    if (task === undefined || issuedAt === undefined) {
      sendAzureError(response, 404, 'BlobNotFound', 'The specified blob does not exist.');
      return;
    }
    if (url.searchParams.get('sig') !== task.resultSignature) {
      sendAzureError(response, 403, 'AuthenticationFailed', 'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.', 'Signature did not match.');
      return;
    }
    const expiresAt = issuedAt + (switches.resultUrlTtlMs ?? defaultResultUrlTtlMs);
    if (clock.now() >= expiresAt) {
      sendAzureError(
        response,
        403,
        'AuthenticationFailed',
        'Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.',
        `Signed expiry time [${new Date(expiresAt).toUTCString()}] must be after signed start time [${new Date(clock.now()).toUTCString()}]`,
      );
      return;
    }
    void renderResult(task).then(
      (image) => {
        downloads += 1;
        sendBytes(response, 200, image, task.outputFormat === 'png' ? 'image/png' : 'image/jpeg');
      },
      () => response.destroy(),
    );
  }

  return {
    url: server.url,
    requests: server.requests,
    close: server.close,
    switches,
    pollingBase,
    tasks,
    get submissions() {
      return submissions;
    },
    get polls() {
      return polls;
    },
    get downloads() {
      return downloads;
    },
  };
}

/** Entry for `npm run fake -- bfl --port N`. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startBflFake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }) });
}

async function renderResult(task: BflFakeTask): Promise<Buffer> {
  task.resultImage ??= await makeTestImage(task.width, task.height, task.outputFormat, task.seed);
  return task.resultImage;
}

/** Azure Blob Storage's XML error body, as BFL's delivery hosts answer for expired or bad signatures. */
function sendAzureError(response: ServerResponse, status: number, code: string, message: string, detail?: string): void {
  const requestId = randomUUID();
  const body =
    `\uFEFF<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}\nRequestId:${requestId}\nTime:${new Date().toISOString()}</Message>` +
    (detail === undefined ? '' : `<AuthenticationErrorDetail>${escapeXml(detail)}</AuthenticationErrorDetail>`) +
    '</Error>';
  sendBytes(response, status, Buffer.from(body, 'utf8'), 'application/xml', { 'x-ms-error-code': code, 'x-ms-request-id': requestId });
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function validateCommon(fields: Record<string, unknown>, family: Family, issues: ValidationIssue[]): void {
  const prompt = fields.prompt;
  if (prompt === undefined || prompt === null) {
    issues.push({ type: 'missing', loc: ['body', 'prompt'], msg: 'Field required', input: fields });
  } else if (typeof prompt !== 'string') {
    issues.push({ type: 'string_type', loc: ['body', 'prompt'], msg: 'Input should be a valid string', input: prompt });
  }
  const safetyMaximum = family === 'flux2' ? 5 : 6;
  checkInteger(fields, 'safety_tolerance', 0, safetyMaximum, issues);
  if (fields.seed !== undefined && fields.seed !== null && !Number.isInteger(fields.seed)) {
    issues.push({ type: 'int_type', loc: ['body', 'seed'], msg: 'Input should be a valid integer', input: fields.seed });
  }
  const outputFormat = fields.output_format;
  if (outputFormat !== undefined && outputFormat !== null && outputFormat !== 'jpeg' && outputFormat !== 'png') {
    issues.push({ type: 'enum', loc: ['body', 'output_format'], msg: "Input should be 'jpeg' or 'png'", input: outputFormat, ctx: { expected: "'jpeg' or 'png'" } });
  }
  if (fields.steps !== undefined && fields.steps !== null) checkInteger(fields, 'steps', 1, 50, issues);
  const webhookUrl = fields.webhook_url;
  if (webhookUrl !== undefined && webhookUrl !== null && (typeof webhookUrl !== 'string' || webhookUrl.length < 1 || webhookUrl.length > 2083)) {
    issues.push({ type: 'url_parsing', loc: ['body', 'webhook_url'], msg: 'Input should be a valid URL', input: webhookUrl });
  }
}

/**
 * Reference-image slots per endpoint, from the official SDK's catalogue (black-forest-labs/blackforest,
 * src/bfl/_catalog.py, `max_reference_images`): FLUX.2 pro/max/flex 8, klein 9B 5, klein 4B 4, Kontext 4,
 * FLUX.1 none. A slot past the model's last is refused as an unknown field [inferred: pydantic's
 * extra_forbidden shape], so a reference is never silently dropped.
 */
const referenceSlots: Record<string, number> = {
  'flux-2-pro': 8,
  'flux-2-max': 8,
  'flux-2-flex': 8,
  'flux-2-klein-9b': 5,
  'flux-2-klein-4b': 4,
  'flux-kontext-pro': 4,
  'flux-kontext-max': 4,
};

function checkReferenceSlots(fields: Record<string, unknown>, model: string, issues: ValidationIssue[]): void {
  const slots = referenceSlots[model] ?? 1;
  for (const name of Object.keys(fields)) {
    const slot = /^input_image(?:_(\d+))?$/.exec(name);
    if (slot === null || fields[name] === undefined || fields[name] === null) continue;
    const position = slot[1] === undefined ? 1 : Number(slot[1]);
    if (position > slots) issues.push({ type: 'extra_forbidden', loc: ['body', name], msg: 'Extra inputs are not permitted', input: '…' });
  }
}

function checkInteger(fields: Record<string, unknown>, name: string, minimum: number, maximum: number, issues: ValidationIssue[]): void {
  const value = fields[name];
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    issues.push({ type: 'int_type', loc: ['body', name], msg: 'Input should be a valid integer', input: value });
  } else if (value < minimum) {
    issues.push({ type: 'greater_than_equal', loc: ['body', name], msg: `Input should be greater than or equal to ${minimum}`, input: value, ctx: { ge: minimum } });
  } else if (value > maximum) {
    issues.push({ type: 'less_than_equal', loc: ['body', name], msg: `Input should be less than or equal to ${maximum}`, input: value, ctx: { le: maximum } });
  }
}

/** The output size the model would produce, or undefined (with issues added) when the body is invalid. */
async function resolveSize(fields: Record<string, unknown>, family: Family, issues: ValidationIssue[]): Promise<{ width: number; height: number } | undefined> {
  if (family === 'classic') {
    const width = checkEdge(fields, 'width', 1024, { minimum: 256, maximum: 1440, multiple: 32 }, issues);
    const height = checkEdge(fields, 'height', 768, { minimum: 256, maximum: 1440, multiple: 32 }, issues);
    return width === undefined || height === undefined ? undefined : { width, height };
  }
  if (family === 'flux2') {
    // 0 (the default) means "match the input image", or 1024 × 1024 without one.
    const width = checkEdge(fields, 'width', 0, { minimum: 64, maximum: Number.MAX_SAFE_INTEGER, multiple: 16, zeroMeansAuto: true }, issues);
    const height = checkEdge(fields, 'height', 0, { minimum: 64, maximum: Number.MAX_SAFE_INTEGER, multiple: 16, zeroMeansAuto: true }, issues);
    if (width === undefined || height === undefined) return undefined;
    if (width > 0 && height > 0) {
      if (width * height > flux2MaxPixels) {
        issues.push({ type: 'value_error', loc: ['body'], msg: `Value error, width * height must be at most ${flux2MaxPixels} pixels (4 MP)`, input: { width, height } });
        return undefined;
      }
      return { width, height };
    }
    const input = await inputImageSize(fields, issues);
    if (input === undefined) return issues.length > 0 ? undefined : { width: 1024, height: 1024 };
    return sizeAtMegapixels(input.width / input.height, Math.min(input.width * input.height, flux2MaxPixels), 16);
  }
  const ratio = checkAspectRatio(fields, family === 'ultra' ? '16:9' : undefined, issues);
  if (ratio === null) return undefined;
  if (family === 'ultra') return sizeAtMegapixels(ratio ?? 16 / 9, 4 * 1024 * 1024, 32);
  // Kontext without an aspect ratio keeps the input image's shape.
  const input = await inputImageSize(fields, issues);
  if (issues.length > 0) return undefined;
  const shape = ratio ?? (input === undefined ? 1 : input.width / input.height);
  return sizeAtMegapixels(shape, 1024 * 1024, 16);
}

function checkEdge(
  fields: Record<string, unknown>,
  name: 'width' | 'height',
  fallback: number,
  rule: { minimum: number; maximum: number; multiple: number; zeroMeansAuto?: boolean },
  issues: ValidationIssue[],
): number | undefined {
  const value = fields[name];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    issues.push({ type: 'int_type', loc: ['body', name], msg: 'Input should be a valid integer', input: value });
    return undefined;
  }
  if (value === 0 && rule.zeroMeansAuto === true) return 0;
  if (value < rule.minimum) {
    issues.push({ type: 'greater_than_equal', loc: ['body', name], msg: `Input should be greater than or equal to ${rule.minimum}`, input: value, ctx: { ge: rule.minimum } });
    return undefined;
  }
  if (value > rule.maximum) {
    issues.push({ type: 'less_than_equal', loc: ['body', name], msg: `Input should be less than or equal to ${rule.maximum}`, input: value, ctx: { le: rule.maximum } });
    return undefined;
  }
  if (value % rule.multiple !== 0) {
    issues.push({ type: 'multiple_of', loc: ['body', name], msg: `Input should be a multiple of ${rule.multiple}`, input: value, ctx: { multiple_of: rule.multiple } });
    return undefined;
  }
  return value;
}

/** Width ÷ height of a valid `aspect_ratio`, undefined when absent and no default, null when invalid. */
function checkAspectRatio(fields: Record<string, unknown>, fallback: string | undefined, issues: ValidationIssue[]): number | undefined | null {
  const value = fields.aspect_ratio ?? fallback;
  if (value === undefined || value === null) return undefined;
  const match = typeof value === 'string' ? /^(\d+):(\d+)$/.exec(value) : null;
  const width = Number(match?.[1]);
  const height = Number(match?.[2]);
  if (match === null || width <= 0 || height <= 0) {
    issues.push({ type: 'value_error', loc: ['body', 'aspect_ratio'], msg: "Value error, aspect_ratio must be in the format 'W:H'", input: value });
    return null;
  }
  const ratio = width / height;
  // Allowed range 21:9 … 9:21, with a little slack for ratios written in other terms.
  if (ratio > 21 / 9 + 1e-9 || ratio < 9 / 21 - 1e-9) {
    issues.push({ type: 'value_error', loc: ['body', 'aspect_ratio'], msg: 'Value error, aspect_ratio must be between 21:9 and 9:21', input: value });
    return null;
  }
  return ratio;
}

async function inputImageSize(fields: Record<string, unknown>, issues: ValidationIssue[]): Promise<{ width: number; height: number } | undefined> {
  const value = fields.input_image;
  if (value === undefined || value === null) return undefined;
  // BFL also takes a URL; the fake does not fetch it and treats it as a square input.
  if (typeof value === 'string' && /^https?:\/\//.test(value)) return { width: 1024, height: 1024 };
  try {
    if (typeof value !== 'string') throw new Error('not a string');
    const metadata = await sharp(Buffer.from(value, 'base64')).metadata();
    if (metadata.width === undefined || metadata.height === undefined) throw new Error('no dimensions');
    return { width: metadata.width, height: metadata.height };
  } catch {
    issues.push({ type: 'value_error', loc: ['body', 'input_image'], msg: 'Value error, input_image must be a base64 encoded image or a URL', input: typeof value === 'string' ? value.slice(0, 32) : value });
    return undefined;
  }
}

function sizeAtMegapixels(ratio: number, pixels: number, multiple: number): { width: number; height: number } {
  const width = Math.max(multiple, Math.round(Math.sqrt(pixels * ratio) / multiple) * multiple);
  const height = Math.max(multiple, Math.round(Math.sqrt(pixels / ratio) / multiple) * multiple);
  return { width, height };
}
