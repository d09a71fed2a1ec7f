// An in-repo fake of fal.ai's queue API: submit, status, result and cancel URLs, with real images.

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
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
 * How each switch looks on fal's wire:
 * - failStatus: the submit call answers that status with `{"detail": "..."}` (429 with retry-after,
 *   5xx with `x-fal-retryable: true`, 403 "User is locked" for an exhausted balance).
 * - outOfFunds: the submit call answers that 403 "User is locked. Reason: Exhausted balance".
 * - hang: the submit call never answers.
 * - moderation 'input': the run completes, and fetching the result answers 422 with a
 *   `detail[]` entry of type `content_policy_violation` on the prompt.
 * - moderation 'output': the result is a success whose images are black, with every
 *   `has_nsfw_concepts[i] = true` (`flaggedImageIndexes` flags only some).
 * - maxImages: fewer images than `num_images`.
 * - malformed: the result body is truncated JSON.
 * - pollsBeforeReady: the status URL reports IN_QUEUE (queue_position counting down), then
 *   IN_PROGRESS, for this many polls before COMPLETED.
 * - resultUrlTtlMs: image URLs answer 404 this long after the result was issued.
 * - latencyMs: every request waits this long before it is answered.
 */

export const falFakeDefaultApiKey = 'fake-key-id:fake-key-secret';

export interface FalFakeSwitches extends FakeSwitches {
  /** Only these output indexes are flagged (black image, has_nsfw_concepts true). */
  flaggedImageIndexes?: number[];
}

export interface FalFakeOptions {
  port?: number;
  apiKey?: string;
  switches?: FalFakeSwitches;
}

export interface FalFake extends QueueFake<FalFakeSwitches> {
  /** Queue requests by id, for assertions on what the fake holds. */
  jobs: ReadonlyMap<string, { modelId: string; input: Record<string, unknown>; canceled: boolean; completed: boolean }>;
}

type JobState = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';

interface FakeJob {
  requestId: string;
  modelId: string;
  /** `owner/alias`: the subpath is dropped for status, result and cancel URLs. */
  appPath: string;
  input: Record<string, unknown>;
  pollsRemaining: number;
  pollsTotal: number;
  completed: boolean;
  canceled: boolean;
  moderation: FakeSwitches['moderation'];
  maxImages: number | undefined;
  flaggedImageIndexes: number[] | undefined;
  malformed: boolean;
  files: FakeFile[];
  resultIssuedAt: number | null;
}

interface FakeFile {
  width: number;
  height: number;
  format: 'png' | 'jpeg';
  seed: number;
  black: boolean;
}

export const falImageSizePresets: Readonly<Record<string, { width: number; height: number }>> = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
};

const ultraAspectRatios = ['21:9', '16:9', '4:3', '3:2', '1:1', '2:3', '3:4', '9:16', '9:21'];

export const falContentPolicyMessage = 'The content could not be processed because it contained material flagged by a content checker.';

export async function startFalFake(options: FalFakeOptions = {}): Promise<FalFake> {
  const apiKey = options.apiKey ?? falFakeDefaultApiKey;
  const switches: FalFakeSwitches = options.switches ?? {};
  const jobs = new Map<string, FakeJob>();
  const cachedImage = createImageCache();
  const counters: QueueCounters = { submissions: 0, cancels: 0 };
  let baseUrl = '';

  const urlsOf = (job: FakeJob) => {
    const responseUrl = `${baseUrl}/${job.appPath}/requests/${job.requestId}`;
    return { response_url: responseUrl, status_url: `${responseUrl}/status`, cancel_url: `${responseUrl}/cancel` };
  };

  const stateOf = (job: FakeJob): JobState => {
    if (job.completed) return 'COMPLETED';
    return job.pollsRemaining > job.pollsTotal / 2 ? 'IN_QUEUE' : 'IN_PROGRESS';
  };

  const handleSubmit = (request: RecordedRequest, response: ServerResponse, modelId: string): void => {
    if (switches.hang) return;
    if (switches.outOfFunds) {
      sendFailure(response, 403, undefined);
      return;
    }
    if (switches.failStatus !== undefined) {
      sendFailure(response, switches.failStatus, switches.retryAfterSeconds);
      return;
    }
    const input = request.json;
    if (!isRecord(input)) {
      sendJson(response, 422, { detail: [{ loc: ['body'], msg: 'Input should be a valid dictionary', type: 'dict_type' }] });
      return;
    }
    const segments = modelId.split('/');
    counters.submissions += 1;
    const pollsBeforeReady = Math.max(0, switches.pollsBeforeReady ?? 0);
    const job: FakeJob = {
      requestId: randomUUID(),
      modelId,
      appPath: segments.slice(0, 2).join('/'),
      input,
      pollsRemaining: pollsBeforeReady,
      pollsTotal: pollsBeforeReady,
      completed: false,
      canceled: false,
      moderation: switches.moderation,
      maxImages: switches.maxImages,
      flaggedImageIndexes: switches.flaggedImageIndexes,
      malformed: switches.malformed ?? false,
      files: [],
      resultIssuedAt: null,
    };
    jobs.set(job.requestId, job);
    sendJson(response, 200, { request_id: job.requestId, gateway_request_id: job.requestId, ...urlsOf(job), queue_position: pollsBeforeReady > 0 ? job.pollsRemaining : 0 });
  };

  const handleStatus = (response: ServerResponse, job: FakeJob, withLogs: boolean): void => {
    if (!job.completed) {
      if (job.pollsRemaining <= 0) job.completed = true;
      else job.pollsRemaining -= 1;
    }
    const state = stateOf(job);
    const { response_url } = urlsOf(job);
    if (state === 'IN_QUEUE') {
      sendJson(response, 202, { status: 'IN_QUEUE', queue_position: Math.max(0, job.pollsRemaining - Math.floor(job.pollsTotal / 2)), response_url });
      return;
    }
    const logs = withLogs ? [{ message: 'Generating...', level: 'INFO', source: 'stdout', timestamp: new Date().toISOString() }] : null;
    if (state === 'IN_PROGRESS') {
      sendJson(response, 202, { status: 'IN_PROGRESS', logs, response_url });
      return;
    }
    sendJson(response, 200, { status: 'COMPLETED', logs, metrics: { inference_time: 0.83 }, response_url });
  };

  const handleResult = async (response: ServerResponse, job: FakeJob): Promise<void> => {
    if (!job.completed) {
      sendJson(response, 400, { detail: 'Request is still in progress' });
      return;
    }
    if (job.canceled) {
      sendJson(response, 400, { detail: 'Request was cancelled' });
      return;
    }
    const problems = validateInput(job.modelId, job.input);
    if (problems.length > 0) {
      sendJson(response, 422, { detail: problems }, { 'x-fal-retryable': 'false' });
      return;
    }
    if (job.moderation === 'input') {
      sendJson(
        response,
        422,
        { detail: [{ loc: ['body', 'prompt'], msg: falContentPolicyMessage, type: 'content_policy_violation', url: 'https://docs.fal.ai/errors#content_policy_violation', input: job.input['prompt'] }] },
        { 'x-fal-retryable': 'false' },
      );
      return;
    }
    const input = job.input;
    if (job.files.length === 0) {
      // FLUX.2 [pro]/[max] have no num_images (fal-js Flux2MaxInput): one image, whatever was sent.
      const wanted = !takesNumImages(job.appPath) ? 1 : typeof input['num_images'] === 'number' ? input['num_images'] : 1;
      const count = Math.max(0, Math.min(wanted, job.maxImages ?? wanted));
      const { width, height } = sizeOf(input);
      const format = input['output_format'] === 'png' ? 'png' : 'jpeg';
      const seed = typeof input['seed'] === 'number' ? input['seed'] : 271828;
      const safetyOn = input['enable_safety_checker'] !== false;
      job.files = Array.from({ length: count }, (_, index) => ({
        width,
        height,
        format,
        seed: seed + index,
        black: safetyOn && (job.moderation === 'output' || (job.flaggedImageIndexes?.includes(index) ?? false)),
      }));
      job.resultIssuedAt = Date.now();
    }
    if (job.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"images":[{"url":"');
      return;
    }
    sendJson(response, 200, await buildResult(job), { 'x-fal-request-id': job.requestId });
  };

  const imageOf = async (job: FakeJob, index: number): Promise<Buffer | undefined> => {
    const file = job.files[index];
    if (file === undefined) return undefined;
    return cachedImage(`${job.requestId}/${index}`, () =>
      file.black
        ? sharp({ create: { width: file.width, height: file.height, channels: 3, background: { r: 0, g: 0, b: 0 } } }).toFormat(file.format).toBuffer()
        : makeTestImage(file.width, file.height, file.format, file.seed),
    );
  };

  const buildResult = async (job: FakeJob): Promise<Record<string, unknown>> => {
    const syncMode = job.input['sync_mode'] === true;
    const images = await Promise.all(
      job.files.map(async (file, index) => {
        const contentType = `image/${file.format}`;
        const url = syncMode
          ? `data:${contentType};base64,${((await imageOf(job, index)) ?? Buffer.alloc(0)).toString('base64')}`
          : `${baseUrl}/files/${job.requestId}/${index}.${file.format === 'jpeg' ? 'jpg' : 'png'}`;
        return { url, width: file.width, height: file.height, content_type: contentType };
      }),
    );
    return {
      images,
      timings: { inference: 0.83 },
      seed: job.files[0]?.seed ?? 271828,
      has_nsfw_concepts: job.files.map((file) => file.black),
      prompt: job.input['prompt'],
    };
  };

  const server = await startFakeServer(async (request, response) => {
    if (switches.latencyMs !== undefined && switches.latencyMs > 0) await delay(switches.latencyMs);
    const url = new URL(request.path, 'http://fake.invalid');
    const path = url.pathname;

    const fileMatch = /^\/files\/([0-9a-f-]+)\/(\d+)\.(?:png|jpg)$/.exec(path);
    if (request.method === 'GET' && fileMatch) {
      const job = jobs.get(fileMatch[1] ?? '');
      const expired = resultExpired(job?.resultIssuedAt, switches.resultUrlTtlMs);
      const bytes = job === undefined || expired ? undefined : await imageOf(job, Number(fileMatch[2]));
      if (job === undefined || bytes === undefined) {
        sendJson(response, 404, { detail: 'File not found' });
        return;
      }
      const file = job.files[Number(fileMatch[2])];
      sendBytes(response, 200, bytes, `image/${file?.format ?? 'png'}`);
      return;
    }

    if (firstHeaderValue(request.headers['authorization']) !== `Key ${apiKey}`) {
      sendJson(response, 401, { detail: 'No user found for Key ID and Secret' });
      return;
    }

    const requestRoute = /^\/([^/]+\/[^/]+)\/requests\/([^/]+)(\/status|\/cancel)?$/.exec(path);
    if (requestRoute) {
      const job = jobs.get(requestRoute[2] ?? '');
      if (job === undefined || job.appPath !== requestRoute[1]) {
        sendJson(response, 404, { detail: 'Request not found' });
        return;
      }
      const action = requestRoute[3];
      if (action === '/status' && request.method === 'GET') {
        handleStatus(response, job, url.searchParams.get('logs') === '1');
        return;
      }
      if (action === '/cancel' && request.method === 'PUT') {
        // fal documents cancel for queued requests; the fake also stops one in progress, which
        // is what a best-effort cancel from the gateway hopes for.
        counters.cancels += 1;
        if (job.completed) {
          sendJson(response, 400, { status: 'ALREADY_COMPLETED' });
          return;
        }
        job.canceled = true;
        job.completed = true;
        sendJson(response, 202, { status: 'CANCELLATION_REQUESTED' });
        return;
      }
      if (action === undefined && request.method === 'GET') {
        await handleResult(response, job);
        return;
      }
      sendJson(response, 405, { detail: 'Method Not Allowed' });
      return;
    }

    if (request.method === 'POST' && /^\/[^/]+\/[^/]+(\/[^/]+)*$/.test(path)) {
      handleSubmit(request, response, path.slice(1));
      return;
    }
    sendJson(response, 404, { detail: 'Not Found' });
  }, options.port);
  baseUrl = server.url;

  return Object.assign(queueFakeHandle(server, switches, counters), { jobs });
}

/** Entry point for `npm run fake -- fal --port N`. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startFalFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

function sendFailure(response: ServerResponse, status: number, retryAfterSeconds: number | undefined): void {
  if (status === 401) {
    sendJson(response, 401, { detail: 'No user found for Key ID and Secret' });
    return;
  }
  if (status === 403) {
    // fal's answer for an account without credit, quoted from fal-ai/fal issues #1112 and #1147
    // (an account-level lock: a new key does not lift it).
    sendJson(response, 403, { detail: 'User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.' });
    return;
  }
  if (status === 429) {
    sendJson(response, 429, { detail: 'Too many concurrent requests for this user. Please try again later.' }, { 'retry-after': String(retryAfterSeconds ?? 1) });
    return;
  }
  if (status >= 500) {
    sendJson(response, status, { detail: 'Internal Server Error' }, { 'x-fal-retryable': 'true', 'x-fal-error-type': 'internal_error' });
    return;
  }
  sendJson(response, status, { detail: [{ loc: ['body'], msg: 'Request rejected', type: 'value_error' }] });
}

interface FalValidationDetail {
  loc: (string | number)[];
  msg: string;
  type: string;
}

function validateInput(modelId: string, input: Record<string, unknown>): FalValidationDetail[] {
  const problems: FalValidationDetail[] = [];
  const prompt = input['prompt'];
  if (typeof prompt !== 'string' || prompt.length === 0) problems.push({ loc: ['body', 'prompt'], msg: 'field required', type: 'value_error.missing' });
  const imageSize = input['image_size'];
  if (imageSize !== undefined) {
    if (typeof imageSize === 'string') {
      if (!(imageSize in falImageSizePresets)) {
        problems.push({ loc: ['body', 'image_size'], msg: `Input should be ${Object.keys(falImageSizePresets).map((name) => `'${name}'`).join(', ')}`, type: 'literal_error' });
      }
    } else if (!isRecord(imageSize) || !isEdge(imageSize['width']) || !isEdge(imageSize['height'])) {
      problems.push({ loc: ['body', 'image_size'], msg: 'Input should be a valid image size (width and height between 1 and 14142)', type: 'value_error' });
    }
  }
  const aspectRatio = input['aspect_ratio'];
  if (modelId.includes('ultra') && aspectRatio !== undefined && !ultraAspectRatios.includes(aspectRatio as string)) {
    problems.push({ loc: ['body', 'aspect_ratio'], msg: `Input should be ${ultraAspectRatios.map((ratio) => `'${ratio}'`).join(', ')}`, type: 'literal_error' });
  }
  const numberOfImages = input['num_images'];
  if (numberOfImages !== undefined && (!Number.isInteger(numberOfImages) || (numberOfImages as number) < 1 || (numberOfImages as number) > 4)) {
    problems.push({ loc: ['body', 'num_images'], msg: 'Input should be between 1 and 4', type: 'less_than_equal' });
  }
  const outputFormat = input['output_format'];
  if (outputFormat !== undefined && outputFormat !== 'jpeg' && outputFormat !== 'png') {
    problems.push({ loc: ['body', 'output_format'], msg: "Input should be 'jpeg' or 'png'", type: 'literal_error' });
  }
  const seed = input['seed'];
  if (seed !== undefined && !Number.isInteger(seed)) problems.push({ loc: ['body', 'seed'], msg: 'Input should be a valid integer', type: 'int_type' });
  return problems;
}

function isEdge(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 14142;
}

function sizeOf(input: Record<string, unknown>): { width: number; height: number } {
  const imageSize = input['image_size'];
  if (typeof imageSize === 'string') return falImageSizePresets[imageSize] ?? { width: 1024, height: 768 };
  if (isRecord(imageSize) && typeof imageSize['width'] === 'number' && typeof imageSize['height'] === 'number') {
    return { width: imageSize['width'], height: imageSize['height'] };
  }
  const aspectRatio = input['aspect_ratio'];
  if (typeof aspectRatio === 'string') {
    const [ratioWidth, ratioHeight] = aspectRatio.split(':').map(Number);
    if (ratioWidth && ratioHeight) {
      // Ultra renders about four megapixels; edges rounded to 32.
      const area = 2048 * 2048;
      return { width: Math.round(Math.sqrt((area * ratioWidth) / ratioHeight) / 32) * 32, height: Math.round(Math.sqrt((area * ratioHeight) / ratioWidth) / 32) * 32 };
    }
  }
  return falImageSizePresets['landscape_4_3'] ?? { width: 1024, height: 768 };
}

/**
 * Endpoints whose input has `num_images` (fal-js @fal-ai/client 1.10.1, src/types/endpoints.d.ts):
 * the FLUX.1 family does; `Flux2ProInput = Flux2MaxInput` has no such field.
 */
function takesNumImages(endpoint: string): boolean {
  return !/^fal-ai\/flux-2-(pro|max)(\/edit)?$/.test(endpoint);
}
