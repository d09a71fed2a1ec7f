// An in-repo fake of Replicate's predictions API: the same routes, auth, bodies and statuses, with real images.

import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import {
  createImageCache,
  delay,
  firstHeaderValue,
  isRecord,
  makeTestImage,
  queueFakeHandle,
  resultExpired,
  sendBytes,
  sendJson,
  startFakeServer,
  type FakeServer,
  type FakeSwitches,
  type QueueCounters,
  type QueueFake,
  type RecordedRequest,
} from './shared.js';

/**
 * How each switch looks on Replicate's wire:
 * - failStatus: the create call answers that status with Replicate's problem-details body
 *   (`{"title","detail","status"}`); 429 carries `retry-after` and the "Request was throttled" detail.
 * - hang: the create call never answers.
 * - moderation 'input': the prediction fails with the E005 "input was flagged as sensitive" error.
 * - moderation 'output': the prediction fails with "NSFW content detected…" (every output was flagged).
 * - maxImages: fewer outputs than `num_outputs`, as when the safety checker drops some.
 * - malformed: the create call answers 201 with truncated JSON.
 * - pollsBeforeReady: the prediction reports `starting`, then `processing` (with tqdm progress in
 *   `logs`) for this many GETs; `Prefer: wait` cannot shorten that, so the create call then answers
 *   at once with the prediction still `starting`.
 * - resultUrlTtlMs: output files answer 404 this long after the prediction completed, and the
 *   prediction itself then reports `data_removed: true` with its output gone.
 * - latencyMs: every request waits this long before it is answered.
 */

export const replicateFakeDefaultApiKey = 'r8_fake_replicate_token';

type OutputShape = 'array' | 'string';

/**
 * One model's input schema, as Replicate publishes it per model version ("Input schema" on
 * replicate.com/<owner>/<name>/versions/<id>/api, from the version's OpenAPI). Enum fields are
 * validated (422 with `invalid_fields`); fields the schema does not have are ignored, as Cog does.
 */
interface FakeModel {
  output: OutputShape;
  aspectRatios: readonly string[];
  /** `output_format` enum. */
  outputFormats: readonly string[];
  /** Rendered when `output_format` is absent. */
  defaultOutputFormat: 'webp' | 'jpg' | 'png';
  /** The schema has `num_outputs` (1–4); without it, one output whatever is sent. */
  numOutputs: boolean;
  /** `megapixels` enum, where the schema has it. */
  megapixels?: readonly string[];
  /** About this many pixels for a ratio, when not `custom`. */
  pixels: number;
  /** `width`/`height` "Only used when aspect_ratio=custom … rounded to nearest multiple of" this. */
  customMultiple?: number;
}

/** flux-schnell / flux-dev: "aspect_ratio … 1:1, 16:9, 21:9, 3:2, 2:3, 4:5, 5:4, 3:4, 4:3, 9:16, 9:21". */
const fluxAspectRatios = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const;
const megapixel = 1024 * 1024;

/** The models the fake knows; any other name answers 404 like an unknown model does. */
const fakeModels: Record<string, FakeModel> = {
  // replicate.com/black-forest-labs/flux-schnell/api: megapixels "1" | "0.25", num_outputs 1–4,
  // output_format webp | jpg | png (default webp), output_quality 0–100.
  'black-forest-labs/flux-schnell': { output: 'array', aspectRatios: fluxAspectRatios, outputFormats: ['webp', 'jpg', 'png'], defaultOutputFormat: 'webp', numOutputs: true, megapixels: ['1', '0.25'], pixels: megapixel },
  'black-forest-labs/flux-dev': { output: 'array', aspectRatios: fluxAspectRatios, outputFormats: ['webp', 'jpg', 'png'], defaultOutputFormat: 'webp', numOutputs: true, megapixels: ['1', '0.25'], pixels: megapixel },
  // …/flux-1.1-pro/versions/96ccd0e7…/api: aspect_ratio "custom, 1:1, 16:9, 3:2, 2:3, 4:5, 5:4, 9:16,
  // 3:4, 4:3" — no 21:9 or 9:21 — and width/height 256–1440, "Must be a multiple of 32 (if it's not,
  // it will be rounded to nearest multiple of 32)".
  'black-forest-labs/flux-1.1-pro': {
    output: 'string',
    aspectRatios: ['custom', '1:1', '16:9', '3:2', '2:3', '4:5', '5:4', '9:16', '3:4', '4:3'],
    outputFormats: ['webp', 'jpg', 'png'],
    defaultOutputFormat: 'webp',
    numOutputs: false,
    pixels: megapixel,
    customMultiple: 32,
  },
  // …/flux-1.1-pro-ultra/versions/352185db…/api: aspect_ratio "21:9, 16:9, 3:2, 4:3, 5:4, 1:1, 4:5, 3:4,
  // 2:3, 9:16, 9:21"; output_format "jpg, png" (default jpg); no output_quality; about 4 MP.
  'black-forest-labs/flux-1.1-pro-ultra': {
    output: 'string',
    aspectRatios: ['21:9', '16:9', '3:2', '4:3', '5:4', '1:1', '4:5', '3:4', '2:3', '9:16', '9:21'],
    outputFormats: ['jpg', 'png'],
    defaultOutputFormat: 'jpg',
    numOutputs: false,
    pixels: 4 * megapixel,
  },
  // …/flux-kontext-pro/versions/0a138193…/api: aspect_ratio default "match_input_image"; output_format
  // default png ("jpg, png"); no output_quality.
  'black-forest-labs/flux-kontext-pro': {
    output: 'string',
    aspectRatios: ['match_input_image', '1:1', '16:9', '9:16', '4:3', '3:4', '3:2', '2:3', '4:5', '5:4', '21:9', '9:21', '2:1', '1:2'],
    outputFormats: ['jpg', 'png'],
    defaultOutputFormat: 'png',
    numOutputs: false,
    pixels: megapixel,
  },
};

/** A bare 64-hex version id resolves to this model, so the version form can be exercised. */
const versionOnlyModel = 'black-forest-labs/flux-schnell';

type PredictionStatus = 'starting' | 'processing' | 'succeeded' | 'failed' | 'canceled' | 'aborted';

interface FakePrediction {
  id: string;
  model: string;
  version: string;
  input: Record<string, unknown>;
  status: PredictionStatus;
  output: string[] | string | null;
  error: string | null;
  logs: string;
  createdAt: number;
  startedAt: number | null;
  completedAt: number | null;
  /** GETs still to answer as not-done. */
  pollsRemaining: number;
  pollsTotal: number;
  /** Switches as they were when the prediction was created: later changes do not reach it. */
  moderation: FakeSwitches['moderation'];
  maxImages: number | undefined;
  files: FakeOutputFile[];
}

interface FakeOutputFile {
  width: number;
  height: number;
  format: 'png' | 'jpeg' | 'webp';
  seed: number;
}

export interface ReplicateFakeOptions {
  port?: number;
  apiKey?: string;
  switches?: FakeSwitches;
}

/** `submissions` counts the create-prediction calls the fake accepted. */
export interface ReplicateFake extends QueueFake<FakeSwitches> {
  /** Predictions by id, for assertions on what the fake holds. */
  predictions: ReadonlyMap<string, { status: PredictionStatus; input: Record<string, unknown>; model: string }>;
}

export const replicateNsfwError = 'NSFW content detected. Try running it again, or try a different prompt.';
export const replicateSensitiveInputError = 'The input was flagged as sensitive. Please try again with different inputs. (E005)';

export async function startReplicateFake(options: ReplicateFakeOptions = {}): Promise<ReplicateFake> {
  const apiKey = options.apiKey ?? replicateFakeDefaultApiKey;
  const switches: FakeSwitches = options.switches ?? {};
  const predictions = new Map<string, FakePrediction>();
  const cachedImage = createImageCache();
  const counters: QueueCounters = { submissions: 0, cancels: 0 };
  let baseUrl = '';

  const predictionBody = (prediction: FakePrediction): Record<string, unknown> => {
    const dataRemoved = isDataRemoved(prediction, switches, Date.now());
    return {
      id: prediction.id,
      model: prediction.model,
      version: prediction.version,
      input: dataRemoved ? {} : prediction.input,
      logs: prediction.logs,
      output: dataRemoved ? null : prediction.output,
      data_removed: dataRemoved,
      error: prediction.error,
      status: prediction.status,
      created_at: new Date(prediction.createdAt).toISOString(),
      started_at: prediction.startedAt === null ? null : new Date(prediction.startedAt).toISOString(),
      completed_at: prediction.completedAt === null ? null : new Date(prediction.completedAt).toISOString(),
      urls: {
        get: `${baseUrl}/v1/predictions/${prediction.id}`,
        cancel: `${baseUrl}/v1/predictions/${prediction.id}/cancel`,
        web: `${baseUrl}/p/${prediction.id}`,
      },
      metrics: prediction.completedAt === null ? {} : { predict_time: 0.61, total_time: (prediction.completedAt - prediction.createdAt) / 1000 },
    };
  };

  const finish = (prediction: FakePrediction): void => {
    const now = Date.now();
    prediction.startedAt ??= now;
    prediction.completedAt = now;
    prediction.pollsRemaining = 0;
    if (prediction.moderation === 'input') {
      prediction.status = 'failed';
      prediction.error = replicateSensitiveInputError;
      return;
    }
    if (prediction.moderation === 'output') {
      prediction.status = 'failed';
      prediction.error = replicateNsfwError;
      prediction.logs += 'Potential NSFW content detected in every output.\n';
      return;
    }
    const model = fakeModels[prediction.model];
    const input = prediction.input;
    const wanted = model?.numOutputs === true ? numberOr(input['num_outputs'], 1) : 1;
    const count = Math.max(0, Math.min(wanted, prediction.maxImages ?? wanted));
    const format = outputFormatOf(input['output_format'] ?? model?.defaultOutputFormat);
    const { width, height } = outputSize(input, model);
    const extension = format === 'jpeg' ? 'jpg' : format;
    const seed = numberOr(input['seed'], 0);
    prediction.files = Array.from({ length: count }, (_, index) => ({ width, height, format, seed: seed + index }));
    const urls = prediction.files.map((_, index) => `${baseUrl}/files/${prediction.id}/out-${index}.${extension}`);
    prediction.status = 'succeeded';
    prediction.output = model?.output === 'string' ? (urls[0] ?? null) : urls;
    prediction.logs += `Using seed: ${seed}\n100%|██████████| 4/4 [00:00<00:00, 8.00it/s]\n`;
  };

  /** Moves a prediction one GET forward: starting → processing (with progress in logs) → finished. */
  const advance = (prediction: FakePrediction): void => {
    if (isTerminal(prediction.status)) return;
    if (prediction.pollsRemaining <= 0) {
      finish(prediction);
      return;
    }
    prediction.pollsRemaining -= 1;
    const done = prediction.pollsTotal - prediction.pollsRemaining;
    if (prediction.status === 'starting' && done > 1) {
      prediction.status = 'processing';
      prediction.startedAt = Date.now();
    }
    if (prediction.status === 'processing') {
      const percent = Math.floor((done / (prediction.pollsTotal + 1)) * 100);
      prediction.logs += `${String(percent).padStart(3)}%|${'█'.repeat(Math.floor(percent / 10)).padEnd(10)}| ${done}/${prediction.pollsTotal + 1} [00:01<00:01,  2.00it/s]\n`;
    }
  };

  const handleCreate = async (request: RecordedRequest, response: ServerResponse, route: { model?: string }): Promise<void> => {
    if (switches.hang) return;
    const failure = switches.failStatus;
    if (failure !== undefined) {
      sendFailure(response, failure, switches.retryAfterSeconds);
      return;
    }
    const body = request.json;
    if (!isRecord(body)) {
      sendJson(response, 400, { title: 'Invalid request', detail: 'The request body is not valid JSON.', status: 400 });
      return;
    }
    let modelName = route.model;
    let version = randomHex(64);
    if (modelName === undefined) {
      const resolved = resolveVersion(body['version']);
      if (resolved === undefined) {
        sendJson(response, 422, validationBody([{ field: 'version', type: 'required', description: 'Invalid version. Expected "owner/name", "owner/name:version" or a 64-character version id.' }]));
        return;
      }
      modelName = resolved.model;
      version = resolved.version;
    }
    const model = fakeModels[modelName];
    if (model === undefined) {
      sendJson(response, 404, { title: 'Not found', detail: 'The requested resource could not be found.', status: 404 });
      return;
    }
    const input = body['input'];
    if (!isRecord(input)) {
      sendJson(response, 422, validationBody([{ field: 'input', type: 'required', description: 'input is required' }]));
      return;
    }
    const problems = validateInput(input, model);
    if (problems.length > 0) {
      sendJson(response, 422, validationBody(problems));
      return;
    }
    counters.submissions += 1;
    const pollsBeforeReady = Math.max(0, switches.pollsBeforeReady ?? 0);
    const prediction: FakePrediction = {
      id: randomPredictionId(),
      model: modelName,
      version,
      input,
      status: 'starting',
      output: null,
      error: null,
      logs: '',
      createdAt: Date.now(),
      startedAt: null,
      completedAt: null,
      pollsRemaining: pollsBeforeReady,
      pollsTotal: pollsBeforeReady,
      moderation: switches.moderation,
      maxImages: switches.maxImages,
      files: [],
    };
    predictions.set(prediction.id, prediction);
    // The model "runs" for pollsBeforeReady polls; a wait cannot make it faster, so only a
    // prediction that is ready at once comes back finished.
    const preferWait = parsePreferWait(firstHeaderValue(request.headers['prefer']));
    if (preferWait !== undefined && pollsBeforeReady === 0) finish(prediction);
    if (switches.malformed) {
      const text = JSON.stringify(predictionBody(prediction));
      response.writeHead(201, { 'content-type': 'application/json' });
      response.end(text.slice(0, Math.floor(text.length / 2)));
      return;
    }
    sendJson(response, 201, predictionBody(prediction));
  };

  const handleFile = async (response: ServerResponse, predictionId: string, index: number): Promise<void> => {
    const prediction = predictions.get(predictionId);
    const file = prediction?.files[index];
    if (prediction === undefined || file === undefined || isDataRemoved(prediction, switches, Date.now())) {
      sendJson(response, 404, { detail: 'Not found' });
      return;
    }
    const bytes = await cachedImage(`${predictionId}/${index}`, () => makeTestImage(file.width, file.height, file.format, file.seed));
    sendBytes(response, 200, bytes, `image/${file.format}`);
  };

  const server = await startFakeServer(async (request, response) => {
    if (switches.latencyMs !== undefined && switches.latencyMs > 0) await delay(switches.latencyMs);
    const url = new URL(request.path, 'http://fake.invalid');
    const path = url.pathname;

    const fileMatch = /^\/files\/([a-z0-9]+)\/out-(\d+)\.(?:png|jpg|webp)$/.exec(path);
    if (request.method === 'GET' && fileMatch) {
      await handleFile(response, fileMatch[1] ?? '', Number(fileMatch[2]));
      return;
    }

    if (!isAuthorized(firstHeaderValue(request.headers['authorization']), apiKey)) {
      sendJson(response, 401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });
      return;
    }

    const modelRoute = /^\/v1\/models\/([^/]+)\/([^/]+)\/predictions$/.exec(path);
    if (request.method === 'POST' && modelRoute) {
      await handleCreate(request, response, { model: `${modelRoute[1]}/${modelRoute[2]}` });
      return;
    }
    if (request.method === 'POST' && path === '/v1/predictions') {
      await handleCreate(request, response, {});
      return;
    }
    const cancelRoute = /^\/v1\/predictions\/([^/]+)\/cancel$/.exec(path);
    if (request.method === 'POST' && cancelRoute) {
      counters.cancels += 1;
      const prediction = predictions.get(cancelRoute[1] ?? '');
      if (prediction === undefined) {
        sendJson(response, 404, { title: 'Not found', detail: 'The requested resource could not be found.', status: 404 });
        return;
      }
      if (!isTerminal(prediction.status)) {
        prediction.status = 'canceled';
        prediction.completedAt = Date.now();
      }
      sendJson(response, 200, predictionBody(prediction));
      return;
    }
    const getRoute = /^\/v1\/predictions\/([^/]+)$/.exec(path);
    if (request.method === 'GET' && getRoute) {
      const prediction = predictions.get(getRoute[1] ?? '');
      if (prediction === undefined) {
        sendJson(response, 404, { title: 'Not found', detail: 'The requested resource could not be found.', status: 404 });
        return;
      }
      advance(prediction);
      sendJson(response, 200, predictionBody(prediction));
      return;
    }
    sendJson(response, 404, { title: 'Not found', detail: 'The requested resource could not be found.', status: 404 });
  }, options.port);
  baseUrl = server.url;

  return Object.assign(queueFakeHandle(server, switches, counters), { predictions });
}

/** Entry point for `npm run fake -- replicate --port N`. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startReplicateFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

function sendFailure(response: ServerResponse, status: number, retryAfterSeconds: number | undefined): void {
  switch (status) {
    case 401:
      sendJson(response, 401, { title: 'Unauthenticated', detail: 'You did not pass a valid authentication token', status: 401 });
      return;
    case 402:
      sendJson(response, 402, {
        title: 'Insufficient credit',
        detail: 'You have insufficient credit to run this model. Go to https://replicate.com/account/billing#billing to purchase credit. Once you purchase credit, please wait a few minutes before trying again.',
        status: 402,
      });
      return;
    case 404:
      sendJson(response, 404, { title: 'Not found', detail: 'The requested resource could not be found.', status: 404 });
      return;
    case 422:
      sendJson(response, 422, validationBody([{ field: 'input', type: 'invalid', description: 'input is invalid' }]));
      return;
    case 429: {
      const seconds = retryAfterSeconds ?? 1;
      sendJson(
        response,
        429,
        { title: 'Request was throttled.', detail: `Request was throttled. Expected available in ${seconds} second${seconds === 1 ? '' : 's'}.`, status: 429 },
        { 'retry-after': String(seconds) },
      );
      return;
    }
    default:
      sendJson(response, status, { title: status >= 500 ? 'Internal Server Error' : 'Error', detail: 'An unexpected error occurred.', status });
  }
}

interface FieldProblem {
  field: string;
  type: string;
  description: string;
}

function validationBody(problems: FieldProblem[]): Record<string, unknown> {
  return {
    title: 'Input validation failed',
    detail: problems.map((problem) => `- ${problem.field}: ${problem.description}`).join('\n') + '\n',
    status: 422,
    invalid_fields: problems,
  };
}

function validateInput(input: Record<string, unknown>, model: FakeModel): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const prompt = input['prompt'];
  if (typeof prompt !== 'string' || prompt.length === 0) problems.push({ field: 'input.prompt', type: 'required', description: 'prompt is required' });
  const aspectRatio = input['aspect_ratio'];
  if (aspectRatio !== undefined && (typeof aspectRatio !== 'string' || !model.aspectRatios.includes(aspectRatio))) {
    problems.push({ field: 'input.aspect_ratio', type: 'enum', description: `aspect_ratio must be one of the following: ${model.aspectRatios.map((ratio) => `"${ratio}"`).join(', ')}` });
  }
  const numberOfOutputs = input['num_outputs'];
  if (numberOfOutputs !== undefined && (!Number.isInteger(numberOfOutputs) || (numberOfOutputs as number) < 1 || (numberOfOutputs as number) > 4)) {
    problems.push({ field: 'input.num_outputs', type: 'number_range', description: 'Must be between 1 and 4' });
  }
  const outputFormat = input['output_format'];
  if (outputFormat !== undefined && !model.outputFormats.includes(outputFormat as string)) {
    problems.push({ field: 'input.output_format', type: 'enum', description: `output_format must be one of the following: ${model.outputFormats.map((format) => `"${format}"`).join(', ')}` });
  }
  const outputQuality = input['output_quality'];
  if (outputQuality !== undefined && (!Number.isInteger(outputQuality) || (outputQuality as number) < 0 || (outputQuality as number) > 100)) {
    problems.push({ field: 'input.output_quality', type: 'number_range', description: 'Must be between 0 and 100' });
  }
  const seed = input['seed'];
  if (seed !== undefined && !Number.isInteger(seed)) problems.push({ field: 'input.seed', type: 'invalid_type', description: 'Invalid type. Expected: integer' });
  const megapixels = input['megapixels'];
  if (megapixels !== undefined && model.megapixels !== undefined && !model.megapixels.includes(megapixels as string)) {
    problems.push({ field: 'input.megapixels', type: 'enum', description: `megapixels must be one of the following: ${model.megapixels.map((value) => `"${value}"`).join(', ')}` });
  }
  if (aspectRatio === 'custom' && model.customMultiple !== undefined) {
    for (const field of ['width', 'height'] as const) {
      const value = input[field];
      if (!Number.isInteger(value) || (value as number) < 256 || (value as number) > 1440) {
        problems.push({ field: `input.${field}`, type: 'number_range', description: 'Must be between 256 and 1440' });
      }
    }
  }
  return problems;
}

/** FLUX renders about the model's pixels (or the asked megapixels) in the asked ratio, edges rounded to 16; custom sizes to the schema's multiple. */
function outputSize(input: Record<string, unknown>, model: FakeModel | undefined): { width: number; height: number } {
  if (input['aspect_ratio'] === 'custom' && model?.customMultiple !== undefined) {
    const multiple = model.customMultiple;
    const round = (value: number) => Math.max(multiple, Math.round(value / multiple) * multiple);
    return { width: round(numberOr(input['width'], 1024)), height: round(numberOr(input['height'], 1024)) };
  }
  const ratioText = typeof input['aspect_ratio'] === 'string' && input['aspect_ratio'] !== 'match_input_image' ? input['aspect_ratio'] : '1:1';
  const [ratioWidth, ratioHeight] = ratioText.split(':').map(Number);
  const ratio = ratioWidth !== undefined && ratioHeight !== undefined && ratioWidth > 0 && ratioHeight > 0 ? ratioWidth / ratioHeight : 1;
  const area = input['megapixels'] === '0.25' ? 512 * 512 : (model?.pixels ?? 1024 * 1024);
  const width = roundTo16(Math.sqrt(area * ratio));
  const height = roundTo16(Math.sqrt(area / ratio));
  return { width, height };
}

function roundTo16(value: number): number {
  return Math.max(16, Math.round(value / 16) * 16);
}

function outputFormatOf(value: unknown): 'png' | 'jpeg' | 'webp' {
  if (value === 'png') return 'png';
  if (value === 'jpg') return 'jpeg';
  return 'webp';
}

function resolveVersion(value: unknown): { model: string; version: string } | undefined {
  if (typeof value !== 'string') return undefined;
  if (/^[0-9a-f]{64}$/.test(value)) return { model: versionOnlyModel, version: value };
  const match = /^([^/:]+\/[^/:]+)(?::([0-9a-f]{64}))?$/.exec(value);
  if (!match) return undefined;
  return { model: match[1] ?? '', version: match[2] ?? randomHex(64) };
}

/** `Prefer: wait` or `wait=N` with N in 1..60, per Replicate's header schema. */
function parsePreferWait(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^wait(?:=([1-9]|[1-9][0-9]|60))?$/.exec(value.trim());
  if (!match) return undefined;
  return match[1] === undefined ? 60 : Number(match[1]);
}

function isAuthorized(header: string | undefined, apiKey: string): boolean {
  if (header === undefined) return false;
  return header === `Bearer ${apiKey}` || header === `Token ${apiKey}`;
}

function isTerminal(status: PredictionStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'canceled' || status === 'aborted';
}

function isDataRemoved(prediction: FakePrediction, switches: FakeSwitches, now: number): boolean {
  return resultExpired(prediction.completedAt, switches.resultUrlTtlMs, now);
}

function numberOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

function randomHex(length: number): string {
  return randomBytes(Math.ceil(length / 2)).toString('hex').slice(0, length);
}

/** Replicate ids are 26 lower-case base32 characters. */
function randomPredictionId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz234567';
  return Array.from(randomBytes(26), (byte) => alphabet[byte % 32]).join('');
}
