// An in-repo fake of Alibaba Cloud Model Studio's DashScope image APIs, wire-compatible with the API
// references it quotes, so the dashscope adapter and the gateway are tested at the network layer:
// - the task API: POST /api/v1/services/aigc/text2image/image-synthesis (X-DashScope-Async: enable)
//   → {"output":{"task_status":"PENDING","task_id":…}}, then GET /api/v1/tasks/{task_id}
//   (https://www.alibabacloud.com/help/en/model-studio/text-to-image-v2-api-reference;
//   the official Node SDK's ImageSynthesis, dashscope/dashscope-sdk-nodejs src/aigc/imageSynthesis/index.ts);
// - the synchronous POST /api/v1/services/aigc/multimodal-generation/generation with
//   input.messages[0].content = [{image}…, {text}] → output.choices[].message.content[].image
//   (https://www.alibabacloud.com/help/en/model-studio/qwen-image-api,
//   https://docs.qwencloud.com/api-reference/image-generation/qwen-image-editing);
// - POST /api/v1/tasks/{task_id}/cancel (PENDING only, else 400 UnsupportedOperation);
// - result URLs on OSS that expire ("Task data, such as the task status and image URLs, is retained
//   for only 24 hours"), answered 403 with OSS's XML once expired.

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { createImageCache, delay, isRecord, makeTestImage, resultExpired, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

/** The key the fake accepts when none is given. */
export const dashScopeFakeApiKey = 'sk-dashscope-fake-0123456789';

/** "Task data … is retained for only 24 hours": result URLs carry Expires a day out. */
const defaultResultUrlTtlMs = 24 * 60 * 60 * 1000;

export interface DashScopeFakeSwitches extends FakeSwitches {
  /** Flag with IPInfringementSuspect instead of DataInspectionFailed. */
  ipInfringement?: boolean;
  /** End every new task FAILED with this code (the job ran and failed), e.g. InternalError. */
  taskError?: string;
  /** Of a task's n results, this many come back as {code, message} instead of a URL (partial success). */
  failedResults?: number;
}

export interface DashScopeFakeOptions {
  port?: number;
  apiKey?: string;
  switches?: DashScopeFakeSwitches;
}

export interface DashScopeFakeTask {
  id: string;
  model: string;
  body: Record<string, unknown>;
  width: number;
  height: number;
  n: number;
  polls: number;
  status: 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  moderation?: 'output';
  taskError?: string;
  failedResults: number;
  resultIssuedAt?: number;
}

export interface DashScopeFake extends FakeServer {
  switches: DashScopeFakeSwitches;
  tasks: Map<string, DashScopeFakeTask>;
  /** Accepted task submissions. */
  readonly submissions: number;
  /** Accepted synchronous generations. */
  readonly generations: number;
  /** GET /api/v1/tasks/{id} requests received. */
  readonly polls: number;
  readonly cancels: number;
}

interface SizeRule {
  /** Allowed `W*H` presets; when absent, the bounds below apply. */
  presets?: readonly string[];
  minEdge?: number;
  maxEdge?: number;
  minPixels?: number;
  maxPixels?: number;
  maxRatio?: number;
  /** Size when none is sent. */
  fallback: string;
}

interface ModelRule {
  protocol: 'text2image' | 'multimodal';
  size: SizeRule;
  maxN: number;
  /** Input images the multimodal call takes (min, max). */
  images: [number, number];
  /** Models that keep the input image's size and take no `size`. */
  sizeFromInput?: boolean;
}

/** qwen-image presets: "1664*928, 1472*1104, 1328*1328, 1104*1472, 928*1664" (qwen-image-api, size; default 1328*1328). */
const qwenPresets: SizeRule = { presets: ['1664*928', '1472*1104', '1328*1328', '1104*1472', '928*1664'], fallback: '1328*1328' };
/** wan2.6-t2i / wan2.5-t2i-preview: "Total pixels between 768*768 and 1440*1440, Aspect ratio: [1:4, 4:1]" (text-to-image-v2-api-reference). */
const wanArea: SizeRule = { minPixels: 768 * 768, maxPixels: 1440 * 1440, maxRatio: 4, fallback: '1280*1280' };
/** wan2.2 and earlier: "Width and height are both between 512 and 1440 pixels" (same reference). */
const wanEdges: SizeRule = { minEdge: 512, maxEdge: 1440, fallback: '1024*1024' };
/** qwen-image-2.0 line: "total pixels between 512*512 and 2048*2048" (qwen-image-generation-and-editing-api-reference). */
const qwenNumbered: SizeRule = { minPixels: 512 * 512, maxPixels: 2048 * 2048, minEdge: 512, maxEdge: 2048, fallback: '2048*2048' };
/** qwen-image-edit-plus/-max: "Width and height must be in range [512, 2048]" (qwen-image-editing). */
const qwenEdit: SizeRule = { minEdge: 512, maxEdge: 2048, fallback: '1024*1024' };

const models: Record<string, ModelRule> = {
  // "only the qwen-image-plus and qwen-image models support" the task API; n "Fixed at 1".
  'qwen-image': { protocol: 'text2image', size: qwenPresets, maxN: 1, images: [0, 0] },
  'qwen-image-plus': { protocol: 'text2image', size: qwenPresets, maxN: 1, images: [0, 0] },
  'qwen-image-max': { protocol: 'multimodal', size: qwenPresets, maxN: 1, images: [0, 0] },
  'qwen-image-2.0': { protocol: 'multimodal', size: qwenNumbered, maxN: 6, images: [0, 3] },
  'qwen-image-2.0-pro': { protocol: 'multimodal', size: qwenNumbered, maxN: 6, images: [0, 3] },
  'qwen-image-edit': { protocol: 'multimodal', size: qwenEdit, maxN: 1, images: [1, 1], sizeFromInput: true },
  'qwen-image-edit-plus': { protocol: 'multimodal', size: qwenEdit, maxN: 6, images: [1, 3] },
  'qwen-image-edit-max': { protocol: 'multimodal', size: qwenEdit, maxN: 6, images: [1, 3] },
  // "n: 1–4" (text-to-image-v2-api-reference); wan2.6-t2i is on the messages protocol only.
  'wan2.6-t2i': { protocol: 'multimodal', size: wanArea, maxN: 4, images: [0, 0] },
  'wan2.5-t2i-preview': { protocol: 'text2image', size: wanArea, maxN: 4, images: [0, 0] },
  'wan2.2-t2i-plus': { protocol: 'text2image', size: wanEdges, maxN: 4, images: [0, 0] },
  'wan2.2-t2i-flash': { protocol: 'text2image', size: wanEdges, maxN: 4, images: [0, 0] },
  'wanx2.1-t2i-plus': { protocol: 'text2image', size: wanEdges, maxN: 4, images: [0, 0] },
  'wanx2.1-t2i-turbo': { protocol: 'text2image', size: wanEdges, maxN: 4, images: [0, 0] },
};

/** Starts the fake on 127.0.0.1; every switch can be flipped on `fake.switches` while it runs. */
export async function startDashScopeFake(options: DashScopeFakeOptions = {}): Promise<DashScopeFake> {
  const apiKey = options.apiKey ?? dashScopeFakeApiKey;
  const switches: DashScopeFakeSwitches = options.switches ?? {};
  const tasks = new Map<string, DashScopeFakeTask>();
  /** Images of synchronous answers, by id: what a result URL serves. */
  const syncResults = new Map<string, { width: number; height: number; issuedAt: number }>();
  const images = createImageCache();
  let submissions = 0;
  let generations = 0;
  let polls = 0;
  let cancels = 0;

  const server = await startFakeServer(async (request, response) => {
    const url = new URL(request.path, 'http://fake.invalid');
    if (switches.latencyMs !== undefined && switches.latencyMs > 0) await delay(switches.latencyMs);

    if (request.method === 'GET' && url.pathname.startsWith('/oss/')) {
      await serveResult(url, response);
      return;
    }
    if (switches.hang) return;
    if (!authenticated(request, response)) return;

    if (request.method === 'POST' && url.pathname === '/api/v1/services/aigc/text2image/image-synthesis') {
      answerSubmit(request, response);
      return;
    }
    if (request.method === 'POST' && url.pathname === '/api/v1/services/aigc/multimodal-generation/generation') {
      answerGeneration(request, response);
      return;
    }
    const cancelMatch = /^\/api\/v1\/tasks\/([^/]+)\/cancel$/.exec(url.pathname);
    if (request.method === 'POST' && cancelMatch !== null) {
      answerCancel(decodeURIComponent(cancelMatch[1] ?? ''), response);
      return;
    }
    const taskMatch = /^\/api\/v1\/tasks\/([^/]+)$/.exec(url.pathname);
    if (request.method === 'GET' && taskMatch !== null) {
      polls += 1;
      answerTask(decodeURIComponent(taskMatch[1] ?? ''), response);
      return;
    }
    fail(response, 404, 'InvalidURL', 'Invalid URL provided in your request.');
  }, options.port);

  function fail(response: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
    sendJson(response, status, { request_id: randomUUID(), code, message }, headers);
  }

  /** "401 InvalidApiKey: Invalid API-key provided." (error-code reference) for a missing or wrong key. */
  function authenticated(request: RecordedRequest, response: ServerResponse): boolean {
    if (request.headers['authorization'] !== `Bearer ${apiKey}`) {
      fail(response, 401, 'InvalidApiKey', 'Invalid API-key provided.');
      return false;
    }
    return true;
  }

  /** The switches every submission (task or synchronous) answers before anything else. */
  function refusedBySwitch(response: ServerResponse): boolean {
    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"output":{"task_status":"PEND');
      return true;
    }
    if (switches.outOfFunds) {
      // Sic: "plesase" is how the error-code reference and the API spell it.
      fail(response, 400, 'Arrearage', 'Access denied, plesase make sure your account is in good standing.');
      return true;
    }
    if (switches.failStatus !== undefined) {
      const status = switches.failStatus;
      if (status === 429) {
        const headers: Record<string, string> = switches.retryAfterSeconds === undefined ? {} : { 'retry-after': String(switches.retryAfterSeconds) };
        fail(response, 429, 'Throttling.RateQuota', 'Requests rate limit exceeded, please try again later.', headers);
      } else if (status === 401) {
        fail(response, 401, 'InvalidApiKey', 'Invalid API-key provided.');
      } else if (status >= 500) {
        fail(response, status, 'InternalError', 'An internal error has occured, please try again later or contact service support.');
      } else {
        fail(response, status, 'InvalidParameter', 'Required parameter(s) missing or invalid, please check the request parameters.');
      }
      return true;
    }
    if (switches.moderation === 'input') {
      if (switches.ipInfringement) fail(response, 400, 'IPInfringementSuspect', 'Input data is suspected of being involved in IP infringement.');
      else fail(response, 400, 'DataInspectionFailed', 'Input data may contain inappropriate content.');
      return true;
    }
    return false;
  }

  function answerSubmit(request: RecordedRequest, response: ServerResponse): void {
    // "X-DashScope-Async: HTTP requests only support asynchronous calls; it must be set to enable."
    if (request.headers['x-dashscope-async'] !== 'enable') {
      fail(response, 403, 'AccessDenied', 'current user api does not support synchronous calls');
      return;
    }
    const body = isRecord(request.json) ? request.json : undefined;
    const model = typeof body?.['model'] === 'string' ? body['model'] : '';
    const rule = models[model];
    if (body === undefined || rule === undefined || rule.protocol !== 'text2image') {
      fail(response, 400, 'InvalidParameter', `Model not exist or does not support this API: ${model}`);
      return;
    }
    const input = isRecord(body['input']) ? body['input'] : {};
    const parameters = isRecord(body['parameters']) ? body['parameters'] : {};
    if (typeof input['prompt'] !== 'string' || input['prompt'].trim() === '') {
      fail(response, 400, 'InvalidParameter', 'Required parameter(s) missing or invalid: input.prompt');
      return;
    }
    const checked = checkParameters(rule, parameters, undefined);
    if (typeof checked === 'string') {
      fail(response, 400, 'InvalidParameter', checked);
      return;
    }
    if (refusedBySwitch(response)) return;
    submissions += 1;
    const id = randomUUID();
    tasks.set(id, {
      id,
      model,
      body,
      ...checked,
      polls: 0,
      status: 'PENDING',
      ...(switches.moderation === 'output' ? { moderation: 'output' as const } : {}),
      ...(switches.taskError === undefined ? {} : { taskError: switches.taskError }),
      failedResults: switches.failedResults ?? 0,
    });
    sendJson(response, 200, { output: { task_status: 'PENDING', task_id: id }, request_id: randomUUID() });
  }

  function answerTask(id: string, response: ServerResponse): void {
    const task = tasks.get(id);
    const requestId = randomUUID();
    if (task === undefined) {
      // "UNKNOWN: the task does not exist or its status is unknown" (task query reference).
      sendJson(response, 200, { request_id: requestId, output: { task_id: id, task_status: 'UNKNOWN' } });
      return;
    }
    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"output":{"task_status":"SUCC');
      return;
    }
    task.polls += 1;
    const times = { submit_time: '2026-12-03 10:00:00.000', scheduled_time: '2026-12-03 10:00:00.100' };
    if (task.status === 'PENDING' || task.status === 'RUNNING') {
      if (task.polls <= (switches.pollsBeforeReady ?? 1)) {
        task.status = task.polls === 1 ? 'PENDING' : 'RUNNING';
        sendJson(response, 200, { request_id: requestId, output: { task_id: id, task_status: task.status, ...times } });
        return;
      }
      task.status = task.taskError !== undefined || task.moderation !== undefined ? 'FAILED' : 'SUCCEEDED';
      task.resultIssuedAt = Date.now();
    }
    const end = { ...times, end_time: '2026-12-03 10:00:20.000' };
    if (task.status === 'CANCELED') {
      sendJson(response, 200, { request_id: requestId, output: { task_id: id, task_status: 'CANCELED', ...end } });
      return;
    }
    if (task.status === 'FAILED') {
      const [code, message] =
        task.moderation !== undefined ? ['DataInspectionFailed', 'Output data may contain inappropriate content.'] : [task.taskError ?? 'InternalError', 'The task failed in the fake.'];
      sendJson(response, 200, { request_id: requestId, output: { task_id: id, task_status: 'FAILED', code, message, ...end } });
      return;
    }
    const prompt = String((task.body['input'] as Record<string, unknown>)['prompt']);
    const made = Math.min(task.n, switches.maxImages ?? task.n);
    const failed = Math.min(task.failedResults, made);
    const results = Array.from({ length: made }, (_, index) =>
      index < made - failed
        ? { orig_prompt: prompt, actual_prompt: `${prompt}, rewritten by prompt_extend`, url: resultUrl(`${id}-${index}`, task.resultIssuedAt ?? Date.now()) }
        : { code: 'InternalError.Algo', message: 'Algorithm process error.' },
    );
    sendJson(response, 200, {
      request_id: requestId,
      output: { task_id: id, task_status: 'SUCCEEDED', ...end, results, task_metrics: { TOTAL: task.n, SUCCEEDED: made - failed, FAILED: task.n - made + failed } },
      usage: { image_count: made - failed },
    });
  }

  function answerCancel(id: string, response: ServerResponse): void {
    cancels += 1;
    const task = tasks.get(id);
    // "Only tasks in the PENDING state can be cancelled."
    if (task === undefined || task.status !== 'PENDING') {
      fail(response, 400, 'UnsupportedOperation', 'Failed to cancel the task, please confirm if the task is in PENDING status.');
      return;
    }
    task.status = 'CANCELED';
    sendJson(response, 200, { request_id: randomUUID() });
  }

  function answerGeneration(request: RecordedRequest, response: ServerResponse): void {
    const body = isRecord(request.json) ? request.json : undefined;
    const model = typeof body?.['model'] === 'string' ? body['model'] : '';
    const rule = models[model];
    if (body === undefined || rule === undefined || rule.protocol !== 'multimodal') {
      fail(response, 400, 'InvalidParameter', `Model not exist or does not support this API: ${model}`);
      return;
    }
    // "Currently, only single-turn conversations are supported": one message, role user, whose content
    // "must contain exactly one object with a text field" plus the input images.
    const input = isRecord(body['input']) ? body['input'] : {};
    const messages = Array.isArray(input['messages']) ? input['messages'] : [];
    const message = messages.length === 1 && isRecord(messages[0]) ? messages[0] : undefined;
    const content = message !== undefined && message['role'] === 'user' && Array.isArray(message['content']) ? message['content'] : undefined;
    if (content === undefined) {
      fail(response, 400, 'InvalidParameter', 'input.messages must hold exactly one user message with a content array');
      return;
    }
    const texts = content.filter((part) => isRecord(part) && typeof part['text'] === 'string');
    const pictures = content.filter((part) => isRecord(part) && typeof part['image'] === 'string').map((part) => String((part as Record<string, unknown>)['image']));
    if (texts.length !== 1) {
      fail(response, 400, 'InvalidParameter', 'The content array must contain exactly one text object');
      return;
    }
    const [fewest, most] = rule.images;
    if (pictures.length < fewest || pictures.length > most) {
      fail(response, 400, 'InvalidParameter', `${model} takes ${fewest === most ? fewest : `${fewest} to ${most}`} input images; ${pictures.length} were given`);
      return;
    }
    // "Supported input formats: a public URL, or data:{MIME_type};base64,{base64_data}".
    const decoded: Buffer[] = [];
    for (const picture of pictures) {
      const match = /^data:image\/(png|jpeg|jpg|webp|bmp|gif|tiff);base64,([A-Za-z0-9+/=]+)$/.exec(picture);
      if (match === null) {
        fail(response, 400, 'InvalidParameter', 'The image must be a public URL or a data:{MIME_type};base64,{data} string');
        return;
      }
      decoded.push(Buffer.from(match[2] ?? '', 'base64'));
    }
    const parameters = isRecord(body['parameters']) ? body['parameters'] : {};
    const checked = checkParameters(rule, parameters, rule.sizeFromInput ? decoded[0] : undefined);
    if (typeof checked === 'string') {
      fail(response, 400, 'InvalidParameter', checked);
      return;
    }
    if (refusedBySwitch(response)) return;
    if (switches.moderation === 'output') {
      fail(response, 400, 'DataInspectionFailed', 'Output data may contain inappropriate content.');
      return;
    }
    generations += 1;
    const issuedAt = Date.now();
    const made = Math.min(checked.n, switches.maxImages ?? checked.n);
    const content2 = Array.from({ length: made }, () => {
      const id = randomUUID();
      syncResults.set(id, { width: checked.width, height: checked.height, issuedAt });
      return { image: resultUrl(id, issuedAt), type: 'image' };
    });
    sendJson(response, 200, {
      output: { choices: [{ finish_reason: 'stop', message: { role: 'assistant', content: content2 } }], finished: true },
      usage: { image_count: made, width: checked.width, height: checked.height, input_tokens: 0, output_tokens: 0, total_tokens: 0 },
      request_id: randomUUID(),
    });
  }

  /** `parameters.size` ("W*H") and `parameters.n` against the model's rules; a message when they break one. */
  function checkParameters(rule: ModelRule, parameters: Record<string, unknown>, sizeSource: Buffer | undefined): { width: number; height: number; n: number } | string {
    const n = parameters['n'] ?? 1;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > rule.maxN) return `parameters.n must be an integer from 1 to ${rule.maxN}`;
    const seed = parameters['seed'];
    if (seed !== undefined && (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 2_147_483_647)) return 'parameters.seed must be in [0, 2147483647]';
    const size = parameters['size'];
    if (size === undefined) {
      if (sizeSource !== undefined) return { ...sizeOfPng(sizeSource), n };
      const [width, height] = rule.size.fallback.split('*').map(Number);
      return { width: width ?? 0, height: height ?? 0, n };
    }
    if (rule.sizeFromInput) return 'qwen-image-edit does not take parameters.size';
    const match = typeof size === 'string' ? /^(\d+)\*(\d+)$/.exec(size) : null;
    if (match === null) return `parameters.size must be written width*height, e.g. 1024*1024; got ${JSON.stringify(size)}`;
    const width = Number(match[1]);
    const height = Number(match[2]);
    const { presets, minEdge, maxEdge, minPixels, maxPixels, maxRatio } = rule.size;
    if (presets !== undefined && !presets.includes(`${width}*${height}`)) return `parameters.size must be one of ${presets.join(', ')}`;
    if (minEdge !== undefined && Math.min(width, height) < minEdge) return `width and height must be at least ${minEdge}`;
    if (maxEdge !== undefined && Math.max(width, height) > maxEdge) return `width and height must be at most ${maxEdge}`;
    if (minPixels !== undefined && width * height < minPixels) return `total pixels must be at least ${minPixels}`;
    if (maxPixels !== undefined && width * height > maxPixels) return `total pixels must be at most ${maxPixels}`;
    if (maxRatio !== undefined && Math.max(width / height, height / width) > maxRatio + 1e-9) return `aspect ratio must be within 1:${maxRatio} and ${maxRatio}:1`;
    return { width, height, n };
  }

  function sizeOfPng(bytes: Buffer): { width: number; height: number } {
    // PNG IHDR; the other formats fall back to 1024 square, enough for a fake.
    if (bytes.length > 24 && bytes.readUInt32BE(12) === 0x49484452) return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
    return { width: 1024, height: 1024 };
  }

  /** An OSS-style signed URL on the fake itself: `/oss/{id}.png?Expires=…&OSSAccessKeyId=…&Signature=…`. */
  function resultUrl(id: string, issuedAt: number): string {
    const expires = Math.floor((issuedAt + (switches.resultUrlTtlMs ?? defaultResultUrlTtlMs)) / 1000);
    return `${server.url}/oss/${id}.png?Expires=${expires}&OSSAccessKeyId=LTAI5tFakeKey&Signature=fake%2Bsig%3D`;
  }

  async function serveResult(url: URL, response: ServerResponse): Promise<void> {
    const id = url.pathname.replace(/^\/oss\//, '').replace(/\.png$/, '');
    const taskMatch = /^(.+)-(\d+)$/.exec(id);
    const task = taskMatch === null ? undefined : tasks.get(taskMatch[1] ?? '');
    const sync = syncResults.get(id);
    const found = task !== undefined ? { width: task.width, height: task.height, issuedAt: task.resultIssuedAt } : sync;
    if (found === undefined) {
      sendBytes(response, 404, Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>'), 'application/xml');
      return;
    }
    if (resultExpired(found.issuedAt, switches.resultUrlTtlMs)) {
      sendBytes(response, 403, Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>'), 'application/xml');
      return;
    }
    const seed = [...id].reduce((sum, char) => sum + char.charCodeAt(0), 0);
    const bytes = await images(id, async () => sharp(await makeTestImage(found.width, found.height, 'png', seed)).png().toBuffer());
    sendBytes(response, 200, bytes, 'image/png');
  }

  return {
    url: server.url,
    requests: server.requests,
    close: server.close,
    switches,
    tasks,
    get submissions() {
      return submissions;
    },
    get generations() {
      return generations;
    },
    get polls() {
      return polls;
    },
    get cancels() {
      return cancels;
    },
  };
}

export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<DashScopeFake> {
  return startDashScopeFake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }) });
}
