// A local fake of Volcengine Ark's images endpoint (`POST /api/v3/images/generations`), the API behind
// ByteDance Seedream; BytePlus ModelArk serves the same surface under model ids without `doubao-`.
//
// Its rules, each quoted beside the check that enforces it, come from:
// - [API] Volcengine Ark "图片生成 API" (https://www.volcengine.com/docs/82379/1541523): the Seedream
//   4.0–4.5 edition of the page (fields, image limits, seed and guidance scope, "生成的图片为 jpeg 格式",
//   "链接在图片生成后24小时内有效") and its 2026 edition listing 5.0-lite (per-model size ranges, output_format).
// - [ERR] BytePlus ModelArk "Common Error Codes" (https://docs.byteplus.com/en/docs/ModelArk/1299023):
//   `{"error":{"code","message","param","type"}}`, 400 BadRequest MissingParameter / InvalidParameter /
//   InputTextSensitiveContentDetected / OutputImageSensitiveContentDetected, 401 AuthenticationError,
//   403 AccountOverdueError, 404 InvalidEndpointOrModel.NotFound, 429 RateLimitExceeded.EndpointRPMExceeded,
//   500 InternalServiceError.
// - [SDK] volcengine/volcengine-python-sdk `volcenginesdkarkruntime/types/images/images.py`: the response
//   (`data[].url|b64_json|size`, `data[].error {code,message}`, `usage {generated_images, output_tokens, total_tokens}`).
// - [DEP] BytePlus ModelArk model deprecation (https://docs.byteplus.com/en/docs/ModelArk/1350667):
//   "seedream-3-0-t2i-250415 | seedream-4-0-250828", deactivated May 13, 2026.
// Where the sources are silent the fake says so ([I], inferred) beside the rule.

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import {
  createImageCache,
  delay,
  isRecord,
  makeTestImage,
  resultExpired,
  sendBytes,
  sendJson,
  startFakeServer,
  type FakeServer,
  type FakeSwitches,
  type RecordedRequest,
} from './shared.js';

export const defaultVolcengineFakeApiKey = 'ark-fake-0b8f2c1e-7d4a-4e0b-9f21-6c3d5e8a1b27';

/** What one model accepts, per [API]. */
interface ModelRules {
  /** `size` keywords ("方式1：指定生成图像的分辨率"), each rendered square here (the prompt would pick the shape). */
  tiers: Readonly<Record<string, number>>;
  /** "方式2：指定生成图像的宽高像素值": total pixel range, or (3.0) each edge within a range. */
  minPixels: number;
  maxPixels: number;
  edgeRange?: [number, number];
  defaultSize: string;
  /** Input images: 0 = "doubao-seedream-3.0-t2i 不支持该参数"; "最多支持传入 14 张参考图". */
  maxImages: number;
  /** "仅 doubao-seedream-4.5、doubao-seedream-4.0 支持该参数" (sequential_image_generation, stream), 5.0-lite too. */
  sequential: boolean;
  /** output_format: "Only for doubao-seedream-5.0-lite". */
  outputFormat: boolean;
  /** seed / guidance_scale: "仅 doubao-seedream-3.0-t2i、doubao-seededit-3.0-i2i 支持该参数". */
  seedAndGuidance: boolean;
}

const rulesOf: Record<string, ModelRules> = {
  // "doubao-seedream-5.0-lite: … resolution ("2K", "3K") … Total pixel range: [2560x1440=3686400, 3072x3072x1.1025=10404496]"
  'seedream-5-0': { tiers: { '2K': 2048, '3K': 3072 }, minPixels: 3_686_400, maxPixels: 10_404_496, defaultSize: '2048x2048', maxImages: 14, sequential: true, outputFormat: true, seedAndGuidance: false },
  // "doubao-seedream-4.5: … ("2K", "4K") … Total pixel range: [2560x1440=3686400, 4096x4096=16777216]"
  'seedream-4-5': { tiers: { '2K': 2048, '4K': 4096 }, minPixels: 3_686_400, maxPixels: 16_777_216, defaultSize: '2048x2048', maxImages: 14, sequential: true, outputFormat: false, seedAndGuidance: false },
  // "doubao-seedream-4.0: … ("1K", "2K", "4K") … 总像素取值范围：[1280x720, 4096x4096]", "默认值：2048x2048"
  'seedream-4-0': { tiers: { '1K': 1024, '2K': 2048, '4K': 4096 }, minPixels: 921_600, maxPixels: 16_777_216, defaultSize: '2048x2048', maxImages: 14, sequential: true, outputFormat: false, seedAndGuidance: false },
  // "doubao-seedream-3.0-t2i: Specify width x height pixels — Default: 1024x1024 — Range: [512x512, 2048x2048]"
  'seedream-3-0-t2i': { tiers: {}, minPixels: 512 * 512, maxPixels: 2048 * 2048, edgeRange: [512, 2048], defaultSize: '1024x1024', maxImages: 0, sequential: false, outputFormat: false, seedAndGuidance: true },
};

/** Volcengine's model ids as the console lists them (BytePlus drops the `doubao-` prefix). */
export const volcengineFakeModels = ['doubao-seedream-5-0-260128', 'doubao-seedream-4-5-251128', 'doubao-seedream-4-0-250828', 'doubao-seedream-3-0-t2i-250415'];
/** [DEP]: deactivated on 2026-05-13; calls name a model that is no longer there. */
export const volcengineFakeRetiredModels = ['doubao-seedream-3-0-t2i-250415'];

export interface VolcengineFakeOptions {
  port?: number;
  apiKey?: string;
  /** Model ids (or `ep-…` endpoint ids mapped below) the account can call. */
  models?: string[];
  /** Endpoint id → model id, as inference endpoints on the console. */
  endpoints?: Record<string, string>;
  /** Models deactivated upstream (default: Seedream 3.0 t2i, per [DEP]). */
  retiredModels?: string[];
  switches?: FakeSwitches;
}

/** One accepted call, as the fake read it. */
export interface VolcengineJob {
  body: Record<string, unknown>;
  model: string;
  /** Decoded input images (data URLs), in order; URL inputs are recorded as `{ url }`. */
  inputs: ({ width: number; height: number; format: string } | { url: string })[];
  /** The sizes rendered, one per image returned. */
  rendered: string[];
}

export interface VolcengineFake extends FakeServer {
  switches: FakeSwitches;
  jobs: VolcengineJob[];
  apiKey: string;
}

class ArkError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly param = '',
  ) {
    super(message);
  }
}

/** [ERR]'s `type` per status. */
const typeOfStatus: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 429: 'TooManyRequests', 500: 'InternalServerError', 503: 'ServiceUnavailable' };

const invalid = (param: string, detail: string) => new ArkError(400, 'InvalidParameter', `One or more parameters specified in the request are not valid: ${detail}`, param);

export async function startVolcengineFake(options: VolcengineFakeOptions = {}): Promise<VolcengineFake> {
  const apiKey = options.apiKey ?? defaultVolcengineFakeApiKey;
  const switches: FakeSwitches = options.switches ?? {};
  const models = new Set(options.models ?? volcengineFakeModels);
  const endpoints = options.endpoints ?? {};
  const retired = new Set(options.retiredModels ?? volcengineFakeRetiredModels);
  const jobs: VolcengineJob[] = [];
  const results = new Map<string, { width: number; height: number; format: 'jpeg' | 'png'; issuedAt: number; seed: number }>();
  const imageCache = createImageCache();
  let imageSeed = 0;

  function sendError(response: ServerResponse, error: ArkError, requestId: string, headers: Record<string, string> = {}): void {
    sendJson(
      response,
      error.status,
      { error: { code: error.code, message: `${error.message} Request id: ${requestId}`, param: error.param, type: typeOfStatus[error.status] ?? 'BadRequest' } },
      { 'x-request-id': requestId, ...headers },
    );
  }

  function familyOf(model: string): ModelRules {
    const match = /^(?:doubao-)?(seedream-(?:5-0|4-5|4-0|3-0-t2i))/.exec(model);
    const rules = match?.[1] === undefined ? undefined : rulesOf[match[1]];
    if (rules === undefined) throw new Error(`the fake has no rules for ${model}`);
    return rules;
  }

  /** `size`: a tier keyword or `WxH` ("方式1/方式2 … 不可混用"), checked against the model's range. */
  function sizeOf(value: unknown, rules: ModelRules): { width: number; height: number } {
    const text = value === undefined ? rules.defaultSize : value;
    if (typeof text !== 'string') throw invalid('size', 'size must be a string');
    const tier = rules.tiers[text];
    if (tier !== undefined) return { width: tier, height: tier };
    const match = /^(\d+)x(\d+)$/.exec(text);
    if (match === null) throw invalid('size', `size ${text} is not a supported resolution or WxH value`);
    const width = Number(match[1]);
    const height = Number(match[2]);
    if (rules.edgeRange !== undefined) {
      const [low, high] = rules.edgeRange;
      if (width < low || height < low || width > high || height > high) throw invalid('size', `size ${text} is out of range [${low}x${low}, ${high}x${high}]`);
      return { width, height };
    }
    const pixels = width * height;
    if (pixels < rules.minPixels || pixels > rules.maxPixels) throw invalid('size', `size ${text} total pixels out of range [${rules.minPixels}, ${rules.maxPixels}]`);
    // "宽高比取值范围：[1/16, 16]"
    if (width / height > 16 || height / width > 16) throw invalid('size', `size ${text} aspect ratio out of range [1/16, 16]`);
    return { width, height };
  }

  /** `image`: URL or `data:image/<图片格式>;base64,…` with the format in lower case; each input's limits. */
  async function inputsOf(value: unknown, rules: ModelRules): Promise<VolcengineJob['inputs']> {
    if (value === undefined || value === null) return [];
    // "doubao-seedream-3.0-t2i 不支持该参数" — [I] answered as an invalid parameter.
    if (rules.maxImages === 0) throw invalid('image', 'image is not supported by this model');
    const list = typeof value === 'string' ? [value] : value;
    if (!Array.isArray(list) || list.length === 0 || !list.every((item) => typeof item === 'string')) throw invalid('image', 'image must be a string or a non-empty array of strings');
    // "最多支持传入 14 张参考图"
    if (list.length > rules.maxImages) throw invalid('image', `at most ${rules.maxImages} reference images are supported`);
    const inputs: VolcengineJob['inputs'] = [];
    for (const item of list as string[]) {
      if (/^https?:\/\//.test(item)) {
        inputs.push({ url: item });
        continue;
      }
      // "注意 <图片格式> 需小写"; formats "jpeg、png（… 新增支持 webp、bmp、tiff、gif 格式）"
      const match = /^data:image\/(jpeg|jpg|png|webp|bmp|tiff|gif);base64,(.*)$/s.exec(item);
      if (match === null) throw invalid('image', 'image must be an accessible URL or data:image/<format>;base64,<data> with a lower-case format');
      const bytes = Buffer.from(match[2] ?? '', 'base64');
      // "大小：不超过 10MB"
      if (bytes.length > 10 * 1024 * 1024) throw invalid('image', 'image size exceeds 10MB');
      const metadata = await sharp(bytes).metadata().catch(() => undefined);
      if (metadata?.width === undefined || metadata.height === undefined) throw invalid('image', 'image could not be decoded');
      const { width, height } = metadata;
      // "宽高长度（px） > 14", "宽高比（宽/高）范围 [1/16, 16]", "总像素：不超过 6000×6000 px"
      if (width <= 14 || height <= 14) throw invalid('image', 'image width and height must be greater than 14px');
      if (width / height > 16 || height / width > 16) throw invalid('image', 'image aspect ratio out of range [1/16, 16]');
      if (width * height > 6000 * 6000) throw invalid('image', 'image total pixels exceed 6000x6000');
      inputs.push({ width, height, format: metadata.format ?? match[1] ?? 'unknown' });
    }
    return inputs;
  }

  async function generate(request: RecordedRequest, response: ServerResponse, requestId: string): Promise<void> {
    const header = String(request.headers['authorization'] ?? '');
    if (header !== `Bearer ${apiKey}`) {
      throw new ArkError(401, 'AuthenticationError', 'The API key or AK/SK in the request is missing or invalid.');
    }
    if (switches.outOfFunds) throw new ArkError(403, 'AccountOverdueError', 'The request failed because your account has an overdue balance.');
    if (switches.failStatus === 429) {
      const retry: Record<string, string> = switches.retryAfterSeconds === undefined ? {} : { 'retry-after': String(switches.retryAfterSeconds) };
      sendError(response, new ArkError(429, 'RateLimitExceeded.EndpointRPMExceeded', 'The Requests Per Minute (RPM) limit of the associated endpoint for your account has been exceeded.'), requestId, retry);
      return;
    }
    if (switches.failStatus !== undefined) throw new ArkError(switches.failStatus, 'InternalServiceError', 'The service encountered an unexpected internal error.');
    const body = request.json;
    if (!isRecord(body)) throw invalid('', 'the body must be a JSON object');
    const named = body['model'];
    if (typeof named !== 'string' || named === '') throw new ArkError(400, 'MissingParameter', 'The request failed because it is missing one or multiple required parameters.', 'model');
    const model = endpoints[named] ?? named;
    if ((!models.has(named) && endpoints[named] === undefined) || retired.has(model)) {
      throw new ArkError(404, 'InvalidEndpointOrModel.NotFound', `The model or endpoint ${named} does not exist or you do not have access to it.`, 'model');
    }
    const rules = familyOf(model);
    const prompt = body['prompt'];
    if (typeof prompt !== 'string' || prompt.trim() === '') throw new ArkError(400, 'MissingParameter', 'The request failed because it is missing one or multiple required parameters.', 'prompt');
    const size = sizeOf(body['size'], rules);
    // "取值范围为 [-1, 2147483647]"; on 4.x "可以传入，但不生效" (passed, ignored).
    const seed = body['seed'];
    if (seed !== undefined && (!Number.isInteger(seed) || (seed as number) < -1 || (seed as number) > 2_147_483_647)) throw invalid('seed', 'seed must be an integer in [-1, 2147483647]');
    // guidance_scale "取值范围：[1, 10]" (3.0 / SeedEdit; 4.x "不支持" — [I] ignored there).
    const guidance = body['guidance_scale'];
    if (guidance !== undefined && rules.seedAndGuidance && (typeof guidance !== 'number' || guidance < 1 || guidance > 10)) throw invalid('guidance_scale', 'guidance_scale must be in [1, 10]');
    // "指定生成图像的返回格式 … url … b64_json"
    const responseFormat = body['response_format'] ?? 'url';
    if (responseFormat !== 'url' && responseFormat !== 'b64_json') throw invalid('response_format', `response_format ${String(responseFormat)} is not one of url, b64_json`);
    if (body['watermark'] !== undefined && typeof body['watermark'] !== 'boolean') throw invalid('watermark', 'watermark must be a boolean');
    // output_format "Options: "png", "jpeg". Only for doubao-seedream-5.0-lite" — [I] refused elsewhere.
    const outputFormat = body['output_format'];
    if (outputFormat !== undefined && (!rules.outputFormat || (outputFormat !== 'png' && outputFormat !== 'jpeg'))) throw invalid('output_format', 'output_format is not supported for this model or value');
    // The fake renders the final answer only; a caller wanting Ark's event stream gets a clear refusal ([I], the fake's limit).
    if (body['stream'] === true) throw invalid('stream', 'the fake does not stream');
    const inputs = await inputsOf(body['image'], rules);
    // "sequential_image_generation … 默认值 disabled … auto：自动判断模式"; options.max_images "Specifies the
    // maximum number of images that can be generated in this request. Number of input reference images +
    // number of generated images ≤ 15. Value range: [1, 15]" (the parameter table as novita.ai and
    // apidoc.cometapi.com quote it; default 15); a set counts its references: "Total images (input +
    // generated) cannot exceed 15" (BytePlus, Seedream 4.x). Each image is a `data[]` item and
    // `usage.generated_images` counts those rendered (the SDK's ImagesResponse).
    const sequential = body['sequential_image_generation'] ?? 'disabled';
    if (sequential !== 'disabled' && sequential !== 'auto') throw invalid('sequential_image_generation', 'sequential_image_generation must be auto or disabled');
    if (sequential === 'auto' && !rules.sequential) throw invalid('sequential_image_generation', 'sequential_image_generation is not supported for this model');
    let count = 1;
    if (sequential === 'auto') {
      const setOptions = body['sequential_image_generation_options'];
      const maxImages = isRecord(setOptions) && setOptions['max_images'] !== undefined ? setOptions['max_images'] : 15;
      if (!Number.isInteger(maxImages) || (maxImages as number) < 1 || (maxImages as number) > 15) throw invalid('sequential_image_generation_options.max_images', 'max_images must be in [1, 15]');
      // The model decides how many a set holds; the fake gives the most it may ([I]).
      count = Math.min(maxImages as number, 15 - inputs.length);
    }
    if (switches.maxImages !== undefined) count = Math.max(0, Math.min(count, switches.maxImages));
    if (switches.moderation === 'input') {
      const code = inputs.length > 0 ? 'InputImageSensitiveContentDetected' : 'InputTextSensitiveContentDetected';
      throw new ArkError(400, code, `The request failed because the input ${inputs.length > 0 ? 'image' : 'text'} may contain sensitive information.`);
    }
    // A single image flagged fails the call; in a set "若失败原因为审核不通过：仍会继续请求下一个图片生成任务" — that image
    // becomes a `data[].error` item and the rest still render.
    if (switches.moderation === 'output' && sequential === 'disabled') {
      throw new ArkError(400, 'OutputImageSensitiveContentDetected', 'The request failed because the output image may contain sensitive information.');
    }
    const format: 'jpeg' | 'png' = outputFormat === 'png' ? 'png' : 'jpeg';
    const data: Record<string, unknown>[] = [];
    const rendered: string[] = [];
    for (let index = 0; index < count; index += 1) {
      if (switches.moderation === 'output' && index === 0) {
        data.push({ error: { code: 'OutputImageSensitiveContentDetected', message: 'The request failed because the output image may contain sensitive information.' } });
        continue;
      }
      const id = randomUUID();
      imageSeed += 1;
      results.set(id, { ...size, format, issuedAt: Date.now(), seed: imageSeed });
      const sizeText = `${size.width}x${size.height}`;
      rendered.push(sizeText);
      if (responseFormat === 'b64_json') {
        const bytes = await imageCache(id, () => makeTestImage(size.width, size.height, format, imageSeed));
        data.push({ b64_json: bytes.toString('base64'), size: sizeText });
      } else {
        // Ark's links are TOS objects signed for a day: "…jpeg?X-Tos-Expires=86400&…".
        data.push({ url: `${fakeUrl}/ark-content-generation/${id}.${format}?X-Tos-Expires=86400&X-Tos-Signature=fake`, size: sizeText });
      }
    }
    jobs.push({ body, model, inputs, rendered });
    const generated = rendered.length;
    // Ark bills an image as width × height / 256 tokens: the docs' 1760x2368 image shows output_tokens 16280.
    const tokens = rendered.reduce((sum, text) => {
      const [width = 0, height = 0] = text.split('x').map(Number);
      return sum + (width * height) / 256;
    }, 0);
    const answer = { model, created: Math.floor(Date.now() / 1000), data, usage: { generated_images: generated, output_tokens: tokens, total_tokens: tokens } };
    if (switches.malformed) {
      const text = JSON.stringify(answer);
      response.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      response.end(text.slice(0, Math.floor(text.length / 2)));
      return;
    }
    sendJson(response, 200, answer, { 'x-request-id': requestId });
  }

  async function serveResult(request: RecordedRequest, response: ServerResponse): Promise<void> {
    const match = /^\/ark-content-generation\/([\w-]+)\.(jpeg|png)/.exec(request.path);
    const result = match?.[1] === undefined ? undefined : results.get(match[1]);
    if (match?.[1] === undefined || result === undefined) {
      sendBytes(response, 404, Buffer.from('<Error><Code>NoSuchKey</Code></Error>'), 'application/xml');
      return;
    }
    // "链接在图片生成后24小时内有效": a signed TOS link past its expiry is refused ([I] S3-style 403).
    if (resultExpired(result.issuedAt, switches.resultUrlTtlMs)) {
      sendBytes(response, 403, Buffer.from('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>'), 'application/xml');
      return;
    }
    const bytes = await imageCache(match[1], () => makeTestImage(result.width, result.height, result.format, result.seed));
    sendBytes(response, 200, bytes, `image/${result.format}`);
  }

  const server = await startFakeServer(async (request, response) => {
    if (switches.latencyMs) await delay(switches.latencyMs);
    if (request.method === 'GET' && request.path.startsWith('/ark-content-generation/')) return serveResult(request, response);
    const requestId = `0217${Date.now()}${randomUUID().replaceAll('-', '').slice(0, 16)}`;
    if (request.method !== 'POST' || request.path.split('?')[0] !== '/api/v3/images/generations') {
      sendError(response, new ArkError(404, 'NotFound', `The requested resource ${request.path} is not found.`), requestId);
      return;
    }
    if (switches.hang) {
      await new Promise<void>((resolve) => response.on('close', resolve));
      return;
    }
    try {
      await generate(request, response, requestId);
    } catch (error) {
      if (error instanceof ArkError) sendError(response, error, requestId);
      else throw error;
    }
  }, options.port ?? 0);
  const fakeUrl = server.url;
  return { ...server, switches, jobs, apiKey };
}

export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<VolcengineFake> {
  return startVolcengineFake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }) });
}
