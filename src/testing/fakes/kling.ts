// An in-repo fake of Kuaishou Kling's image generation API (create task → query task → CDN image URLs),
// wire-compatible with Kling's API reference, so the Kling adapter and the gateway are tested at the
// network layer. Kling publishes no official npm SDK; every rule below is quoted from Kling's own pages:
//   [common]  通用信息 (auth, error codes, concurrency): https://app.klingai.com/global/dev/document-api/apiReference/commonInfo
//   [image]   图像生成 (request/response): https://app.klingai.com/global/dev/document-api/apiReference/model/imageGeneration
//   [cap]     能力地图 (per-model abilities): https://app.klingai.com/global/dev/document-api/apiReference/model/capabilityMap
// The live pages render client-side; the text quoted here is from their verbatim mirrors in
// WHQ25/rawgenai docs/research/kling/{common-info,image-generation,capability-map}.md and
// inference-sh/grid api/klingai/docs/{00-general,05-image-generation}.md. Rules marked [inferred] are
// not documented and are the fake's choice.

import { randomBytes, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import sharp from 'sharp';
import { systemClock, type Clock } from '../../core/ports/clock.js';
import { createImageCache, delay, isRecord, makeTestImage, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

/** The key pair the fake accepts when none is given (a channel's api_key is `<ak>:<sk>`). */
export const klingFakeAccessKey = 'AKfake0123456789kling';
export const klingFakeSecretKey = 'SKfake_secret_9876543210_kling';
export const klingFakeApiKey = `${klingFakeAccessKey}:${klingFakeSecretKey}`;

/** [common] "生成的图片/视频会在30天后被清理". */
const defaultResultUrlTtlMs = 30 * 24 * 60 * 60 * 1000;
/** [common] concurrency is the resource pack's; "图片生成任务的并发数 = n". The pack size is the fake's choice [inferred]. */
const defaultMaxConcurrency = 50;

/** [image] "model_name … 枚举值：kling-v1, kling-v1-5, kling-v2, kling-v2-new, kling-v2-1" (+ kling-v3, Kolors V3.0). */
const modelRules: Record<string, { ratios: readonly string[]; textToImage: boolean; image: boolean; twoK: boolean }> = {
  // [cap] kling-v1: 文生图 and 图生图-通用垫图 at every ratio but 21:9.
  'kling-v1': { ratios: ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3'], textToImage: true, image: true, twoK: false },
  // [cap] kling-v1-5: 文生图, 图生图-角色特征 / 人物长相, all eight ratios.
  'kling-v1-5': { ratios: ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3', '21:9'], textToImage: true, image: true, twoK: false },
  // [cap] kling-v2: 文生图, 风格转绘 ("生成图片分辨率与入参图相同"); 清晰度 "kling-2 … 1K/2K".
  'kling-v2': { ratios: ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3', '21:9'], textToImage: true, image: true, twoK: true },
  // [cap] kling-v2-new: "文生图 -" (none), 图生图-风格转绘 only.
  'kling-v2-new': { ratios: ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3', '21:9'], textToImage: false, image: true, twoK: false },
  // [cap] kling-v2-1: 文生图 and 多图参考生图; [image] the create-task example sends it an `image` URL. 1K only (not in 清晰度).
  'kling-v2-1': { ratios: ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3', '21:9'], textToImage: true, image: true, twoK: false },
  // Kolors V3.0 "1K/2K" text-to-image (price list); an image on this endpoint is refused [inferred: undocumented].
  'kling-v3': { ratios: ['16:9', '9:16', '1:1', '4:3', '3:4', '3:2', '2:3', '21:9'], textToImage: true, image: false, twoK: true },
};

/** Kling-only switches on top of the common ones. */
export interface KlingFakeSwitches extends FakeSwitches {
  /** End every new task `failed` with this `task_status_msg` (the task ran and failed). */
  taskError?: string;
  /** Queries answer this `task_status`, outside Kling's four, until cleared. */
  unknownStatus?: string;
}

export interface KlingFakeOptions {
  port?: number;
  /** Accepted key pairs, access key → secret key. */
  keys?: Record<string, string>;
  switches?: KlingFakeSwitches;
  maxConcurrency?: number;
  /** Time source for token and result URL expiry, so tests can move past them without sleeping. */
  clock?: Clock;
}

export interface KlingFakeTask {
  id: string;
  accessKey: string;
  model: string;
  /** The submitted JSON body, as received. */
  body: Record<string, unknown>;
  n: number;
  width: number;
  height: number;
  queries: number;
  status: 'submitted' | 'processing' | 'succeed' | 'failed';
  statusMessage: string;
  createdAt: number;
  updatedAt: number;
  moderated: boolean;
  taskError?: string;
  imagesReturned: number;
  resultIssuedAt?: number;
  signature: string;
}

export interface KlingFake extends FakeServer {
  switches: KlingFakeSwitches;
  /** Tasks created (after auth and validation). */
  readonly submissions: number;
  /** GET /v1/images/generations/{id} requests received. */
  readonly queries: number;
  /** Result images served. */
  readonly downloads: number;
  tasks: Map<string, KlingFakeTask>;
}

/** Starts the fake on 127.0.0.1; every switch can be flipped on `fake.switches` while it runs. */
export async function startKlingFake(options: KlingFakeOptions = {}): Promise<KlingFake> {
  const keys = options.keys ?? { [klingFakeAccessKey]: klingFakeSecretKey };
  const switches: KlingFakeSwitches = options.switches ?? {};
  const clock = options.clock ?? systemClock;
  const maxConcurrency = options.maxConcurrency ?? defaultMaxConcurrency;
  const tasks = new Map<string, KlingFakeTask>();
  const renderCache = createImageCache();
  let submissions = 0;
  let queries = 0;
  let downloads = 0;

  const server = await startFakeServer(async (request, response) => {
    const url = new URL(request.path, 'http://fake.invalid');
    if (switches.latencyMs !== undefined && switches.latencyMs > 0) await delay(switches.latencyMs);
    if (request.method === 'GET' && url.pathname.startsWith('/kcdn/')) {
      await serveResult(url, response);
      return;
    }
    if (url.pathname === '/v1/images/generations' && request.method === 'POST') {
      if (switches.hang) return;
      const accessKey = await authenticate(request, response);
      if (accessKey === undefined) return;
      await createTask(accessKey, request, response);
      return;
    }
    const query = /^\/v1\/images\/generations\/([^/]+)$/.exec(url.pathname);
    if (query !== null && request.method === 'GET') {
      queries += 1;
      if (switches.hang) return;
      const accessKey = await authenticate(request, response);
      if (accessKey === undefined) return;
      answerQuery(decodeURIComponent(query[1] ?? ''), accessKey, response);
      return;
    }
    // [common] 404 1202 "请求的method无效".
    sendKlingError(response, 404, 1202, 'invalid request method or path');
  }, options.port);

  /**
   * [common] "Authorization = "Bearer XXX"" where XXX is a JWT: HS256, iss = access key, exp, nbf.
   * 1001 "Authorization为空", 1002 "Authorization值非法", 1003 "Authorization未到有效时间",
   * 1004 "Authorization已失效", 1000 "身份验证失败" (an access key the platform does not know).
   */
  async function authenticate(request: RecordedRequest, response: ServerResponse): Promise<string | undefined> {
    const header = request.headers['authorization'];
    if (typeof header !== 'string' || header.trim() === '') {
      sendKlingError(response, 401, 1001, 'Authorization is empty');
      return undefined;
    }
    const match = /^Bearer (\S+)$/.exec(header);
    let issuer: unknown;
    try {
      if (match === null) throw new Error('not a bearer token');
      if (decodeProtectedHeader(match[1] ?? '').alg !== 'HS256') throw new Error('not HS256');
      issuer = decodeJwt(match[1] ?? '').iss;
    } catch {
      sendKlingError(response, 401, 1002, 'Authorization is invalid');
      return undefined;
    }
    const secret = typeof issuer === 'string' ? keys[issuer] : undefined;
    if (typeof issuer !== 'string' || secret === undefined) {
      sendKlingError(response, 401, 1000, 'Authentication failed');
      return undefined;
    }
    try {
      // Time claims are checked below against the fake's clock; `exp` and `nbf` must be present.
      const { payload } = await jwtVerify(match?.[1] ?? '', new TextEncoder().encode(secret), {
        algorithms: ['HS256'],
        requiredClaims: ['exp', 'nbf'],
        currentDate: new Date(clock.now()),
      });
      return payload.iss;
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) sendKlingError(response, 401, 1004, 'Authorization is expired');
      else if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'nbf' && error.reason === 'check_failed') sendKlingError(response, 401, 1003, 'Authorization is not active yet');
      else sendKlingError(response, 401, 1002, 'Authorization is invalid');
      return undefined;
    }
  }

  function sendFailStatus(status: number, response: ServerResponse): void {
    if (status === 429) {
      const headers: Record<string, string> = switches.retryAfterSeconds === undefined ? {} : { 'retry-after': String(switches.retryAfterSeconds) };
      // [common] 429 1302 "API请求过快，超过平台速率限制".
      sendKlingError(response, 429, 1302, 'too many requests, exceeded the rate limit', headers);
      return;
    }
    const codeOfStatus: Record<number, [number, string]> = {
      400: [1200, 'invalid request parameters'],
      401: [1000, 'Authentication failed'],
      403: [1103, 'no permission for the requested resource'],
      500: [5000, 'internal server error'],
      503: [5001, 'service temporarily unavailable'],
      504: [5002, 'internal server timeout'],
    };
    const [code, message] = codeOfStatus[status] ?? [5000, `error ${status}`];
    sendKlingError(response, status, code, message);
  }

  async function createTask(accessKey: string, request: RecordedRequest, response: ServerResponse): Promise<void> {
    if (switches.failStatus !== undefined) {
      sendFailStatus(switches.failStatus, response);
      return;
    }
    if (switches.outOfFunds) {
      // [common] 429 1102 "资源包已用完/已过期（预付费场景）".
      sendKlingError(response, 429, 1102, 'resource pack exhausted or expired');
      return;
    }
    const body = request.json;
    if (!isRecord(body)) {
      sendKlingError(response, 400, 1200, 'request body is not a JSON object');
      return;
    }
    const checked = await validate(body);
    if (checked === 'unknown_model') {
      // [common] 404 1203 "请求的资源不存在，如模型".
      sendKlingError(response, 404, 1203, `model_name ${String(body['model_name'])} does not exist`);
      return;
    }
    if (typeof checked === 'string') {
      // [common] 400 1201 "参数非法，如key写错或value非法"; the message names the field.
      sendKlingError(response, 400, 1201, checked);
      return;
    }
    if (switches.moderation === 'input') {
      // [common] 400 1301 "触发平台的内容安全策略".
      sendKlingError(response, 400, 1301, 'content security policy triggered, please modify the input');
      return;
    }
    // [common] "图片生成任务的并发数 = n"; over the pack's limit: 1303 "parallel task over resource pack limit".
    const running = [...tasks.values()].filter((task) => task.accessKey === accessKey && (task.status === 'submitted' || task.status === 'processing')).reduce((sum, task) => sum + task.n, 0);
    if (running + checked.n > maxConcurrency) {
      sendKlingError(response, 429, 1303, 'parallel task over resource pack limit');
      return;
    }
    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"code":0,"message":"SUCCEED","data":{"task_id":"');
      return;
    }
    const now = clock.now();
    const id = String(800_000_000_000_000_000n + BigInt(Math.floor(Math.random() * 1e15)));
    const task: KlingFakeTask = {
      id,
      accessKey,
      model: checked.model,
      body,
      n: checked.n,
      width: checked.width,
      height: checked.height,
      queries: 0,
      status: 'submitted',
      statusMessage: '',
      createdAt: now,
      updatedAt: now,
      moderated: switches.moderation === 'output',
      imagesReturned: Math.min(checked.n, switches.maxImages ?? checked.n),
      signature: randomBytes(12).toString('hex'),
      ...(switches.taskError === undefined ? {} : { taskError: switches.taskError }),
    };
    tasks.set(id, task);
    submissions += 1;
    // [image] create-task answer: data.task_id, task_status, task_info, created_at, updated_at (ms).
    sendJson(response, 200, {
      code: 0,
      message: 'SUCCEED',
      request_id: randomUUID(),
      data: { task_id: id, task_status: 'submitted', task_info: {}, created_at: now, updated_at: now },
    });
  }

  function answerQuery(id: string, accessKey: string, response: ServerResponse): void {
    if (switches.malformed) {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(`{"code":0,"data":{"task_id":"${id}","task_status":"succ`);
      return;
    }
    const task = tasks.get(id);
    if (task === undefined || task.accessKey !== accessKey) {
      sendKlingError(response, 404, 1203, `task ${id} does not exist`);
      return;
    }
    task.queries += 1;
    if (switches.unknownStatus !== undefined) {
      sendJson(response, 200, { code: 0, message: 'SUCCEED', request_id: randomUUID(), data: { task_id: id, task_status: switches.unknownStatus, created_at: task.createdAt, updated_at: clock.now() } });
      return;
    }
    const pollsBeforeReady = switches.pollsBeforeReady ?? 2;
    if (task.status === 'submitted' || task.status === 'processing') {
      if (task.queries <= pollsBeforeReady) {
        task.status = task.queries === 1 ? 'submitted' : 'processing';
      } else if (task.moderated) {
        // Kling's wording for a task its moderation stopped, as clients report it (e.g. "task_status: failed,
        // task_status_msg: "Failure to pass the risk control system"").
        finishTask(task, 'failed', 'Failure to pass the risk control system');
      } else if (task.taskError !== undefined) {
        finishTask(task, 'failed', task.taskError);
      } else {
        finishTask(task, 'succeed', '');
        task.resultIssuedAt = clock.now();
      }
    }
    const data: Record<string, unknown> = {
      task_id: task.id,
      task_status: task.status,
      task_status_msg: task.statusMessage,
      task_info: {},
      created_at: task.createdAt,
      updated_at: task.updatedAt,
      // [image] "task_result": {"images": [{"index": int, "url": string}]} — always present, empty until done.
      task_result: task.status === 'succeed' ? { images: Array.from({ length: task.imagesReturned }, (_, index) => ({ index, url: resultUrl(task, index) })) } : {},
    };
    // [image] "final_unit_deduction": units charged; failed tasks are not charged.
    if (task.status === 'succeed') data['final_unit_deduction'] = String(task.n);
    sendJson(response, 200, { code: 0, message: 'SUCCEED', request_id: randomUUID(), data });
  }

  function finishTask(task: KlingFakeTask, status: 'succeed' | 'failed', message: string): void {
    task.status = status;
    task.statusMessage = message;
    task.updatedAt = clock.now();
  }

  function resultUrl(task: KlingFakeTask, index: number): string {
    return `${server.url}/kcdn/cdn-kcdn112452/kling-images/${task.id}-${index}.png?x-sig=${task.signature}`;
  }

  async function serveResult(url: URL, response: ServerResponse): Promise<void> {
    const match = /^\/kcdn\/cdn-kcdn112452\/kling-images\/(\d+)-(\d+)\.png$/.exec(url.pathname);
    const task = match === null ? undefined : tasks.get(match[1] ?? '');
    const index = Number(match?.[2]);
    // CDN answers a missing or expired object with 404 [inferred: the CDN's error body is not documented].
    if (task === undefined || task.resultIssuedAt === undefined || url.searchParams.get('x-sig') !== task.signature || !(index < task.imagesReturned)) {
      sendBytes(response, 404, Buffer.from('Not Found'), 'text/plain');
      return;
    }
    if (clock.now() - task.resultIssuedAt >= (switches.resultUrlTtlMs ?? defaultResultUrlTtlMs)) {
      sendBytes(response, 404, Buffer.from('Not Found'), 'text/plain');
      return;
    }
    const seed = Number(BigInt(task.id) % 1000n) + index;
    const image = await renderCache(`${task.id}-${index}`, () => makeTestImage(task.width, task.height, 'png', seed));
    downloads += 1;
    sendBytes(response, 200, image, 'image/png');
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
    get queries() {
      return queries;
    },
    get downloads() {
      return downloads;
    },
  };
}

interface ValidTask {
  model: string;
  n: number;
  width: number;
  height: number;
}

/** The task a body asks for, a 1201 message naming the bad field, or 'unknown_model'. */
async function validate(body: Record<string, unknown>): Promise<ValidTask | string | 'unknown_model'> {
  // [image] "model_name 可选 默认值 kling-v1".
  const model = body['model_name'] ?? 'kling-v1';
  if (typeof model !== 'string') return 'model_name must be a string';
  const rules = modelRules[model];
  if (rules === undefined) return 'unknown_model';
  // [image] "prompt 必须 … 不能超过2500个字符"; "negative_prompt 可选 … 不能超过2500个字符".
  const prompt = body['prompt'];
  if (typeof prompt !== 'string' || prompt.trim() === '') return 'prompt is required';
  if ([...prompt].length > 2500) return 'prompt cannot exceed 2500 characters';
  const negative = body['negative_prompt'];
  if (negative !== undefined && (typeof negative !== 'string' || [...negative].length > 2500)) return 'negative_prompt must be a string of at most 2500 characters';
  // [image] "n 可选 默认值 1 … 取值范围：[1,9]".
  const n = body['n'] ?? 1;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 9) return 'n must be an integer in [1,9]';
  // [image] "aspect_ratio 可选 默认值 16:9 … 枚举值：16:9, 9:16, 1:1, 4:3, 3:4, 3:2, 2:3, 21:9"; per model [cap].
  const ratio = body['aspect_ratio'] ?? '16:9';
  if (typeof ratio !== 'string' || !rules.ratios.includes(ratio)) return `aspect_ratio ${JSON.stringify(ratio)} is not supported by ${model}`;
  // [image] "resolution 可选 默认值 1k … 枚举值：1k, 2k … 不同模型版本支持范围不同"; 2K only on kling-v2 (清晰度 table) and V3.
  const resolution = body['resolution'] ?? '1k';
  if (resolution !== '1k' && resolution !== '2k') return 'resolution must be 1k or 2k';
  for (const name of ['image_fidelity', 'human_fidelity']) {
    // [image] "取值范围：[0,1]".
    const value = body[name];
    if (value !== undefined && (typeof value !== 'number' || value < 0 || value > 1)) return `${name} must be in [0,1]`;
  }
  const reference = body['image_reference'];
  if (reference !== undefined && reference !== '' && reference !== 'subject' && reference !== 'face') return 'image_reference must be subject or face';

  const image = body['image'];
  const withImage = typeof image === 'string' && image !== '';
  if (!withImage) {
    if (!rules.textToImage) return `${model} does not support text-to-image; image is required`;
    if (reference !== undefined && reference !== '') return 'image is required when image_reference is set';
    if (resolution === '2k' && !rules.twoK) return `resolution 2k is not supported by ${model}`;
    return { model, n, ...sizeAt(ratio, resolution === '2k' ? 2048 : 1024) };
  }
  if (!rules.image) return `${model} does not support image input`;
  // [image] negative_prompt: "图生图场景下不支持" (not with a reference image).
  if (negative !== undefined && negative !== '') return 'negative_prompt is not supported with image';
  // [image] image_reference "仅kling-v1-5支持"; "当使用kling-v1-5且image参数不为空时，当前参数必填".
  if (model === 'kling-v1-5' && (reference === undefined || reference === '')) return 'image_reference is required for kling-v1-5 with image';
  if (model !== 'kling-v1-5' && reference !== undefined && reference !== '') return `image_reference is not supported by ${model}`;
  // [cap] 清晰度: image-to-image is 1K on kling-v1, kling-v1-5 and kling-2.
  if (resolution === '2k') return 'resolution 2k is not supported for image-to-image';
  const input = await referenceImageSize(image);
  if (typeof input === 'string') return input;
  // [cap] kling-v2 风格转绘: "生成图片分辨率与入参图相同".
  if (model === 'kling-v2' || model === 'kling-v2-new') return { model, n, width: input.width, height: input.height };
  return { model, n, ...sizeAt(ratio, 1024) };
}

/**
 * [image] image: "支持传入图片Base64编码或图片URL"; "图片格式支持.jpg / .jpeg / .png"; "图片文件大小不能超过10MB，
 * 图片宽高尺寸不小于300px，图片宽高比介于1:2.5 ~ 2.5:1之间"; Base64 "不要在Base64编码字符串前添加任何前缀，如data:image/png;base64,".
 */
async function referenceImageSize(image: string): Promise<{ width: number; height: number } | string> {
  // The fake does not fetch URLs [inferred]: a URL counts as a valid 1024x1024 picture.
  if (/^https?:\/\//.test(image)) return { width: 1024, height: 1024 };
  if (image.startsWith('data:')) return 'image must be Base64 without a data: prefix';
  const bytes = Buffer.from(image, 'base64');
  if (bytes.length > 10 * 1024 * 1024) return 'image cannot exceed 10MB';
  try {
    const metadata = await sharp(bytes).metadata();
    if (metadata.format !== 'png' && metadata.format !== 'jpeg') return 'image format must be jpg, jpeg or png';
    const width = metadata.width ?? 0;
    const height = metadata.height ?? 0;
    if (width < 300 || height < 300) return 'image width and height must be at least 300px';
    if (Math.max(width, height) / Math.min(width, height) > 2.5) return 'image aspect ratio must be between 1:2.5 and 2.5:1';
    return { width, height };
  } catch {
    return 'image is not a valid image';
  }
}

/** The pixels of a 1K or 2K picture at a ratio: the square's area kept, edges on a grid of 8 [inferred: Kling names tiers, not sizes]. */
function sizeAt(ratio: string, edge: number): { width: number; height: number } {
  const [w, h] = ratio.split(':').map(Number) as [number, number];
  const area = edge * edge;
  const width = Math.round(Math.sqrt((area * w) / h) / 8) * 8;
  const height = Math.round(Math.sqrt((area * h) / w) / 8) * 8;
  return { width, height };
}

/** [common] every error: `{"code": <业务码>, "message": string, "request_id": string}` with the table's HTTP status. */
function sendKlingError(response: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(response, status, { code, message, request_id: randomUUID() }, headers);
}

/** Entry for `npm run fake -- kling --port N [--api-key AK:SK]`. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  const separator = argv.apiKey?.indexOf(':') ?? -1;
  const keys = argv.apiKey === undefined || separator < 0 ? undefined : { [argv.apiKey.slice(0, separator)]: argv.apiKey.slice(separator + 1) };
  return startKlingFake({ port: argv.port, switches: argv.switches, ...(keys === undefined ? {} : { keys }) });
}
