// The Ark `POST /api/v3/images/generations` wire format: the request body for one Seedream call, the
// response (`data[]` of url / b64_json items, or per-image errors in a set) and Ark's error bodies.
//
// Sources: Volcengine Ark "图片生成 API" (https://www.volcengine.com/docs/82379/1541523), BytePlus
// ModelArk "Common Error Codes" (https://docs.byteplus.com/en/docs/ModelArk/1299023) and the official
// SDK volcengine/volcengine-python-sdk (`volcenginesdkarkruntime/types/images/images.py`: `ImagesResponse`
// with `data[].url|b64_json|size`, `data[].error {code, message}`, `usage.generated_images`, `error`).

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageUsage, InputImage, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import { imageFromBase64Text, parseJsonLifting } from '../shared/json-base64.js';
import type { HttpResponse } from '../shared/types.js';
import { errorFromUpstreamResponse, invalidUpstreamResponse, moderationError, outOfFundsError } from '../shared/upstream-errors.js';
import type { SeedreamProfile } from './models.js';

export const volcengineProviderName = 'volcengine';

/**
 * Ark fields a client may set through the gateway (they arrive as request fields the gateway does not
 * model). `guidance_scale` only where the model reads it; the rest as the SDK's `images.generate` names them.
 */
const passedThrough = ['watermark', 'guidance_scale', 'optimize_prompt', 'optimize_prompt_options'] as const;

export interface BodyInput {
  options: ImageCallOptions;
  profile: SeedreamProfile;
  width: number;
  height: number;
  /** The channel's `options.watermark` (default false): Ark's own default is true, an "AI生成" mark. */
  watermark: boolean;
}

/** One call's JSON body; every option is sent, mapped with a warning, or left out with a warning. */
export function buildBody(input: BodyInput): { body: Record<string, unknown>; warnings: ProviderWarning[] } {
  const { options, profile } = input;
  const warnings: ProviderWarning[] = [];
  const unsupported = (param: string, message: string) => warnings.push({ type: 'unsupported', param, message });
  const body: Record<string, unknown> = {
    model: options.model,
    prompt: options.prompt,
    size: `${input.width}x${input.height}`,
    // The gateway fetches the result through its guarded client and re-hosts it: a URL (valid 24 hours)
    // keeps the answer small; Ark's images are jpeg either way.
    response_format: 'url',
    watermark: input.watermark,
  };
  const set = profile.sequential && options.providerOptions['sequential_image_generation'] === 'auto';
  if (profile.sequential) {
    // `n` is the gateway's: one image per call, n calls in parallel. `auto` lets the model decide how
    // many images a set has ("模型会根据用户提供的提示词自主判断…组图包含的图片数量"), so it cannot promise n;
    // it is sent only when the client asked for a set, as one call with `n` as its `max_images`
    // ("取值范围 [1, 15]", "输入的参考图数量 + 最终生成的图片数量 ≤ 15": the model stops there itself).
    body['sequential_image_generation'] = set ? 'auto' : 'disabled';
    if (set) body['sequential_image_generation_options'] = { max_images: options.n };
    body['stream'] = false;
  }
  if (options.seed !== undefined) {
    if (profile.seedAndGuidance) body['seed'] = options.seed;
    else unsupported('seed', `${profile.name} does not read 'seed' (only Seedream 3.0 and SeedEdit 3.0 do); it was not sent.`);
  }
  if (profile.outputFormats.length > 1) {
    // 5.0-lite renders png or jpeg; webp comes back as png and the gateway converts it.
    body['output_format'] = options.outputFormat === 'jpeg' ? 'jpeg' : 'png';
  }
  for (const [name, value] of Object.entries(options.providerOptions)) {
    if (name === 'sequential_image_generation' || name === 'sequential_image_generation_options') {
      // Sent above for a set; `disabled` is what a call without one sends anyway.
      if (!set && !(name === 'sequential_image_generation' && value === 'disabled')) {
        unsupported(name, `Without sequential_image_generation "auto" the gateway asks Seedream for one image per call and makes n calls; '${name}' was not sent.`);
      }
    } else if (name === 'guidance_scale' && !profile.seedAndGuidance) {
      unsupported(name, `${profile.name} does not read 'guidance_scale'; it was not sent.`);
    } else if ((name === 'optimize_prompt' || name === 'optimize_prompt_options') && !profile.sequential) {
      unsupported(name, `${profile.name} has no prompt optimisation; '${name}' was not sent.`);
    } else if ((passedThrough as readonly string[]).includes(name)) {
      body[name] = value;
    } else {
      unsupported(name, `Seedream has no '${name}' parameter; it was not sent.`);
    }
  }
  if (options.quality !== undefined && options.quality !== 'auto') unsupported('quality', `Seedream has no 'quality' parameter; it was not sent.`);
  if (options.style !== undefined) unsupported('style', `Seedream has no 'style' parameter; it was not sent.`);
  if (options.background === 'transparent') unsupported('background', `Seedream renders opaque images; background "transparent" was not applied.`);
  return { body, warnings };
}

/** `data:image/<format>;base64,…`, the format in lower case as the docs require. */
export function toDataUrl(image: InputImage): string {
  return `data:${image.mediaType.toLowerCase()};base64,${image.data.toString('base64')}`;
}

export interface ParsedImages {
  images: ProviderImage[];
  usage?: ImageUsage;
  /** Per-image failures of a set (`data[].error`): the moderation ones decide the error when nothing came back. */
  failures: { code: string; message: string }[];
}

/** Reads a 200 answer; a 200 carrying `error` (the SDK's `ImagesResponse.error`) is mapped like an error body. */
export function parseImagesResponse(response: HttpResponse, model: string, secrets: string[]): ParsedImages {
  let lifted;
  let parsed: unknown;
  try {
    lifted = parseJsonLifting(response.body, 'b64_json');
    parsed = lifted === undefined ? JSON.parse(response.body.toString('utf8')) : lifted.value;
  } catch {
    throw invalidUpstreamResponse(volcengineProviderName, 'the body is not JSON');
  }
  if (!isRecord(parsed)) throw invalidUpstreamResponse(volcengineProviderName, 'the body is not an object');
  const bodyError = arkErrorOf(parsed);
  if (bodyError !== undefined && !Array.isArray(parsed['data'])) {
    throw errorFromArk({ status: 400, code: bodyError.code, message: bodyError.message, response, model, secrets });
  }
  if (!Array.isArray(parsed['data'])) throw invalidUpstreamResponse(volcengineProviderName, 'no data list');
  const images: ProviderImage[] = [];
  const failures: { code: string; message: string }[] = [];
  for (const item of parsed['data']) {
    if (!isRecord(item)) continue;
    const itemError = arkErrorOf(item);
    if (itemError !== undefined) {
      failures.push(itemError);
      continue;
    }
    const text = lifted?.liftedText(item['b64_json']);
    if (text !== undefined) images.push(imageFromBase64Text(text, { mediaType: 'image/jpeg' }));
    else if (typeof item['b64_json'] === 'string') images.push(imageFromBase64Text(Buffer.from(item['b64_json'], 'latin1'), { mediaType: 'image/jpeg' }));
    else if (typeof item['url'] === 'string' && item['url'] !== '') images.push({ kind: 'url', url: item['url'] });
  }
  const usage = usageOf(parsed['usage']);
  return { images, failures, ...(usage === undefined ? {} : { usage }) };
}

/**
 * Ark bills output tokens per image (`usage.output_tokens`, e.g. 16280 for a 2K image); there are no
 * input tokens to report. Kept so the request log shows what the upstream counted.
 */
function usageOf(value: unknown): ImageUsage | undefined {
  if (!isRecord(value) || typeof value['output_tokens'] !== 'number') return undefined;
  return { inputTokens: 0, outputTokens: value['output_tokens'] };
}

function arkErrorOf(value: Record<string, unknown>): { code: string; message: string } | undefined {
  const error = value['error'];
  if (!isRecord(error) || typeof error['code'] !== 'string' || error['code'] === '') return undefined;
  return { code: error['code'], message: typeof error['message'] === 'string' ? error['message'] : '' };
}

/** A non-2xx answer: Ark's body is `{"error":{"code","message","param","type"}}`. */
export function errorFromArkResponse(response: HttpResponse, model: string, secrets: string[]): GatewayError {
  let code = '';
  let message: string | undefined;
  try {
    const parsed: unknown = JSON.parse(response.body.toString('utf8'));
    const error = isRecord(parsed) ? arkErrorOf(parsed) : undefined;
    if (error !== undefined) ({ code, message } = error);
  } catch {
    // A proxy's HTML page: the status alone decides.
  }
  return errorFromArk({ status: response.status, code, ...(message === undefined ? {} : { message }), response, model, secrets });
}

/**
 * Ark's codes, from the Common Error Codes table: `*SensitiveContentDetected*` / `*RiskDetection*`
 * (400) are moderation, `Input…` at the input stage and `Output…` at the output; 403
 * `AccountOverdueError` ("your account has an overdue balance … To continue the use, go to the billing
 * center to top up") is out of funds, so the router fails over instead of calling the key bad. Volcengine's
 * longer table adds `ServiceOverdue` (403, an overdue bill) and the 429s `QuotaExceeded` (the free trial
 * quota used up) and `SetLimitExceeded` (the spending cap of "安心体验模式" reached): the account has to be
 * topped up or the cap lifted, and retrying on a timer never helps, so they count as out of funds too
 * (the codes from Volcengine's error-code page as field reports quote it; not in the BytePlus table above).
 * The rest follows the status.
 */
function errorFromArk(input: { status: number; code: string; message?: string; response: HttpResponse; model: string; secrets: string[] }): GatewayError {
  const { code } = input;
  if (/SensitiveContentDetected|RiskDetection/i.test(code)) {
    const stage = /^Output/i.test(code) ? 'output' : 'input';
    return moderationError({ provider: volcengineProviderName, model: input.model, stage, reasons: [code] });
  }
  if (/^(AccountOverdueError|ServiceOverdue|QuotaExceeded|SetLimitExceeded)\b/.test(code)) {
    return outOfFundsError(volcengineProviderName, input.status);
  }
  const message = input.message === undefined ? undefined : code === '' ? input.message : `${code}: ${input.message}`;
  const status = input.status >= 200 && input.status < 300 ? 400 : input.status;
  return errorFromUpstreamResponse(volcengineProviderName, { ...input.response, status }, { secrets: input.secrets, ...(message === undefined ? {} : { message }) });
}

/** Every image of the call was refused (a set whose images all failed): the first failure decides. */
export function errorFromFailures(failures: readonly { code: string; message: string }[], response: HttpResponse, model: string, secrets: string[]): GatewayError {
  const [first] = failures;
  if (first === undefined) return invalidUpstreamResponse(volcengineProviderName, 'no images in data');
  return errorFromArk({ status: 400, code: first.code, message: first.message, response, model, secrets });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
