// The OpenAI Images wire format, shared by the openai and azure adapters: what each model family
// accepts, request bodies (JSON and multipart), and the minimal schema of error bodies (the answer's
// is in ../shared/images-response.ts, since other upstreams answer in the same shape).

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageOperation, InputImage, ProviderWarning } from '../../core/ports/image-model.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { HttpResponse } from '../shared/types.js';
import { errorFromUpstreamResponse, moderationError, outOfFundsError } from '../shared/upstream-errors.js';

/**
 * How OpenAI's own models differ on the wire. `compatible` is any other name: an OpenAI-compatible
 * server (LocalAI, sd.cpp, Together …) that takes free `WxH` sizes and extra fields such as `seed`.
 */
export type OpenAIModelFamily = 'dall-e-2' | 'dall-e-3' | 'gpt-image' | 'gpt-image-2' | 'compatible';

export function modelFamily(model: string): OpenAIModelFamily {
  const name = model.toLowerCase();
  if (name === 'dall-e-2') return 'dall-e-2';
  if (name === 'dall-e-3') return 'dall-e-3';
  if (name.startsWith('gpt-image-2')) return 'gpt-image-2';
  if (name.startsWith('gpt-image') || name.startsWith('chatgpt-image')) return 'gpt-image';
  return 'compatible';
}

/** gpt-image* and chatgpt-image* always answer with base64 and reject `response_format` (400 unknown_parameter). */
export function isGptImageModel(model: string): boolean {
  const family = modelFamily(model);
  return family === 'gpt-image' || family === 'gpt-image-2';
}

interface FamilyProfile {
  maxImagesPerCall: number;
  operations: readonly ImageOperation[];
  /** Undefined: any `WxH` is passed as asked. */
  sizeSpec?: SizeSpec;
  /** Quality values the family accepts, and how the others are mapped (undefined: sent as asked). */
  qualities?: { accepted: readonly string[]; mapping: Readonly<Record<string, string>> };
  /** Options OpenAI rejects for this family: left out with an `unsupported` warning. */
  unsupported: ReadonlySet<'style' | 'background' | 'moderation' | 'seed'>;
  /** GPT-image-only fields (output_format, output_compression) are sent. */
  sendsOutputFormat: boolean;
}

const gptImageQualities = {
  accepted: ['low', 'medium', 'high', 'auto'],
  mapping: { standard: 'medium', hd: 'high' },
} as const;

const profiles: Record<OpenAIModelFamily, FamilyProfile> = {
  'dall-e-2': {
    maxImagesPerCall: 10,
    operations: ['generate', 'edit', 'variation'],
    sizeSpec: { kind: 'enumerated', sizes: ['256x256', '512x512', '1024x1024'] },
    qualities: { accepted: ['standard', 'auto'], mapping: { low: 'standard', medium: 'standard', high: 'standard', hd: 'standard' } },
    unsupported: new Set(['style', 'background', 'moderation', 'seed']),
    sendsOutputFormat: false,
  },
  'dall-e-3': {
    maxImagesPerCall: 1,
    operations: ['generate'],
    sizeSpec: { kind: 'enumerated', sizes: ['1024x1024', '1792x1024', '1024x1792'] },
    qualities: { accepted: ['standard', 'hd', 'auto'], mapping: { low: 'standard', medium: 'standard', high: 'hd' } },
    unsupported: new Set(['background', 'moderation', 'seed']),
    sendsOutputFormat: false,
  },
  'gpt-image': {
    maxImagesPerCall: 10,
    operations: ['generate', 'edit'],
    sizeSpec: { kind: 'enumerated', sizes: ['1024x1024', '1536x1024', '1024x1536'] },
    qualities: gptImageQualities,
    unsupported: new Set(['style', 'seed']),
    sendsOutputFormat: true,
  },
  'gpt-image-2': {
    maxImagesPerCall: 10,
    operations: ['generate', 'edit'],
    // Documented limits: edges multiples of 16, longest edge ≤ 3840, 655,360–8,294,400 pixels, ratio within 1:3–3:1.
    sizeSpec: { kind: 'pixels', multiple: 16, minEdge: 480, maxEdge: 3840, minPixels: 655_360, maxPixels: 8_294_400 },
    qualities: gptImageQualities,
    unsupported: new Set(['style', 'seed']),
    sendsOutputFormat: true,
  },
  compatible: {
    maxImagesPerCall: 10,
    operations: ['generate', 'edit', 'variation'],
    unsupported: new Set(),
    sendsOutputFormat: true,
  },
};

/** What one upstream model can do, before channel settings narrow it. */
export function modelCapabilities(model: string): { maxImagesPerCall: number; operations: readonly ImageOperation[] } {
  const profile = profiles[modelFamily(model)];
  return { maxImagesPerCall: profile.maxImagesPerCall, operations: profile.operations };
}

export interface BuiltFields {
  /** Field name → value, in OpenAI's names; JSON as-is, multipart as text parts. */
  fields: Record<string, unknown>;
  warnings: ProviderWarning[];
}

/**
 * The request fields for one call: every option either sent under its OpenAI name, mapped with a
 * warning, or left out with an `unsupported` warning. `providerOptions` go last, as-is, so unknown
 * fields reach the upstream (and may deliberately override a mapped value).
 */
export function buildImageFields(options: ImageCallOptions, operation: ImageOperation, config: { includeModel: boolean }): BuiltFields {
  const family = modelFamily(options.model);
  const profile = profiles[family];
  const fields: Record<string, unknown> = {};
  const warnings: ProviderWarning[] = [];
  const unsupported = (param: string, value: unknown) =>
    warnings.push({ type: 'unsupported', param, message: `${param} ${JSON.stringify(value)} is not supported by ${options.model} and was ignored.` });

  if (config.includeModel) fields['model'] = options.model;
  if (operation !== 'variation') fields['prompt'] = options.prompt;
  fields['n'] = options.n;
  fields['size'] = upstreamSize(options, profile, warnings);

  if (operation !== 'variation') {
    if (options.quality !== undefined) {
      const quality = mapQuality(options.quality, profile, options.model, warnings);
      if (quality !== undefined) fields['quality'] = quality;
    }
    if (options.style !== undefined) {
      if (profile.unsupported.has('style')) unsupported('style', options.style);
      else fields['style'] = options.style;
    }
    if (options.background !== undefined) {
      // `auto` is every model's default, so leaving it out honours it.
      if (!profile.unsupported.has('background')) fields['background'] = options.background;
      else if (options.background !== 'auto') unsupported('background', options.background);
    }
    if (options.moderation !== undefined) {
      // Generations only: CreateImageEditRequest (OpenAI's OpenAPI file) and ImageEditParams
      // (openai-node 6.49) have no `moderation`, and the API answers 400 for it on edits.
      if (!profile.unsupported.has('moderation') && operation === 'generate') fields['moderation'] = options.moderation;
      else if (options.moderation !== 'auto') unsupported('moderation', options.moderation);
    }
    // For DALL·E the core transcodes to the asked format, so leaving these out still honours them.
    if (profile.sendsOutputFormat) {
      fields['output_format'] = options.outputFormat;
      if (options.outputCompression !== undefined) fields['output_compression'] = options.outputCompression;
    }
    if (options.seed !== undefined) {
      if (profile.unsupported.has('seed')) unsupported('seed', options.seed);
      else fields['seed'] = options.seed;
    }
  } else {
    for (const [param, value] of [
      ['quality', options.quality],
      ['style', options.style],
      ['seed', options.seed],
    ] as const) {
      if (value !== undefined) warnings.push({ type: 'unsupported', param, message: `${param} is not supported for variations and was ignored.` });
    }
    if (options.background !== undefined && options.background !== 'auto') unsupported('background', options.background);
  }
  if (options.user !== undefined) fields['user'] = options.user;
  // GPT image models reject response_format; everything else is asked for bytes, which the core re-hosts.
  if (!isGptImageModel(options.model)) fields['response_format'] = 'b64_json';

  Object.assign(fields, options.providerOptions);
  if (fields['input_fidelity'] !== undefined && family !== 'compatible' && !acceptsInputFidelity(options.model)) {
    // A retired model's request (gpt-image-1.5 → gpt-image-2) may carry it; the successor answers
    // 400 invalid_input_fidelity_model, so it is dropped and said.
    unsupported('input_fidelity', fields['input_fidelity']);
    delete fields['input_fidelity'];
  }
  return { fields, warnings };
}

/**
 * `input_fidelity`: "only supported for gpt-image-1 and gpt-image-1.5 and later models, unsupported
 * for gpt-image-1-mini" (InputFidelity in OpenAI's OpenAPI file); gpt-image-2 and gpt-image-2.5
 * answer 400 invalid_input_fidelity_model in live calls reported by several public projects, which
 * we trust over the spec's "and later models".
 */
function acceptsInputFidelity(model: string): boolean {
  return /^gpt-image-1(\.5)?(-\d{4}-\d{2}-\d{2})?$/i.test(model);
}

function upstreamSize(options: ImageCallOptions, profile: FamilyProfile, warnings: ProviderWarning[]): string {
  const asked = `${options.size.width}x${options.size.height}`;
  if (!profile.sizeSpec) return asked;
  let size = options.size;
  // The pixel spec has no ratio bound, so shapes beyond 3:1 are first narrowed to 3:1 (longest edge kept).
  const ratio = Math.max(size.width, size.height) / Math.min(size.width, size.height);
  const narrowed = profile.sizeSpec.kind === 'pixels' && ratio > 3;
  if (narrowed) {
    size = size.width > size.height ? { width: size.width, height: Math.ceil(size.width / 3) } : { width: Math.ceil(size.height / 3), height: size.height };
  }
  const { value, warnings: sizeWarnings } = mapSize({ size, aspectRatio: options.aspectRatio }, profile.sizeSpec);
  if (value.kind !== 'pixels') throw new Error(`OpenAI size specs map to pixels, got ${value.kind}`);
  const mapped = `${value.width}x${value.height}`;
  if (narrowed) warnings.push({ type: 'mapped', param: 'size', message: `size ${asked} is not available for ${options.model} (aspect ratio beyond 3:1); using ${mapped}.` });
  else warnings.push(...sizeWarnings);
  return mapped;
}

function mapQuality(quality: string, profile: FamilyProfile, model: string, warnings: ProviderWarning[]): string | undefined {
  if (!profile.qualities || profile.qualities.accepted.includes(quality)) return quality;
  const mapped = profile.qualities.mapping[quality];
  if (mapped !== undefined) {
    warnings.push({ type: 'mapped', param: 'quality', message: `quality '${quality}' is not available for ${model}; using '${mapped}'.` });
    return mapped;
  }
  warnings.push({ type: 'unsupported', param: 'quality', message: `quality '${quality}' is not supported by ${model} and was ignored.` });
  return undefined;
}

/**
 * A multipart body as the official SDK sends it: one image as `image`, several as repeated
 * `image[]`, `mask` as a file, numbers and booleans as text, arrays as repeated `name[]`.
 */
export function toMultipartBody(fields: Record<string, unknown>, images: readonly InputImage[], mask: InputImage | undefined): FormData {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) appendField(form, name, value);
  const imageField = images.length === 1 ? 'image' : 'image[]';
  images.forEach((image, index) => form.append(imageField, asBlob(image), image.filename ?? `image-${index + 1}.${extensionOf(image.mediaType)}`));
  if (mask) form.append('mask', asBlob(mask), mask.filename ?? 'mask.png');
  return form;
}

function appendField(form: FormData, name: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    for (const item of value) appendField(form, `${name}[]`, item);
    return;
  }
  if (typeof value === 'object') {
    form.append(name, JSON.stringify(value));
    return;
  }
  form.append(name, String(value));
}

function asBlob(image: InputImage): Blob {
  return new Blob([new Uint8Array(image.data.buffer, image.data.byteOffset, image.data.byteLength)], { type: image.mediaType });
}

function extensionOf(mediaType: InputImage['mediaType']): string {
  return mediaType === 'image/jpeg' ? 'jpg' : mediaType.slice('image/'.length);
}

/** The fields of an OpenAI-style (or Azure-style) error body that decide how it is reported. */
export interface UpstreamErrorFields {
  message?: string;
  type?: string;
  param?: string;
  code?: string;
  /** Azure: `inner_error.code` (e.g. ResponsibleAIPolicyViolation). */
  innerCode?: string;
  /** OpenAI: `moderation_details.moderation_stage`. */
  moderationStage?: 'input' | 'output';
  /** Flagged categories from `moderation_details.categories` or Azure's `content_filter_results`. */
  categories: string[];
}

/** Reads `{"error":{message,type,param,code,…}}`; undefined when the body is not of that shape. */
export function readUpstreamError(body: Buffer): UpstreamErrorFields | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  const error = isRecord(parsed) ? parsed['error'] : undefined;
  if (!isRecord(error)) return undefined;
  const text = (value: unknown): string | undefined =>
    typeof value === 'string' && value !== '' ? value : typeof value === 'number' ? String(value) : undefined;
  const fields: UpstreamErrorFields = { categories: [] };
  const message = text(error['message']);
  const type = text(error['type']);
  const param = text(error['param']);
  const code = text(error['code']);
  if (message !== undefined) fields.message = message;
  if (type !== undefined) fields.type = type;
  if (param !== undefined) fields.param = param;
  if (code !== undefined) fields.code = code;

  const moderation = error['moderation_details'];
  if (isRecord(moderation)) {
    const stage = moderation['moderation_stage'];
    if (stage === 'input' || stage === 'output') fields.moderationStage = stage;
    if (Array.isArray(moderation['categories'])) fields.categories = moderation['categories'].filter((item): item is string => typeof item === 'string');
  }
  const inner = error['inner_error'] ?? error['innererror'];
  if (isRecord(inner)) {
    const innerCode = text(inner['code']);
    if (innerCode !== undefined) fields.innerCode = innerCode;
    const results = inner['content_filter_results'];
    if (isRecord(results) && fields.categories.length === 0) {
      fields.categories = Object.entries(results)
        .filter(([, result]) => isRecord(result) && result['filtered'] === true)
        .map(([category]) => category);
    }
  }
  if (fields.categories.length === 0 && fields.message) {
    // gpt-image messages end with "safety_violations=[sexual, violence]."
    const listed = /safety_violations=\[([^\]]*)\]/.exec(fields.message)?.[1];
    if (listed) fields.categories = listed.split(',').map((item) => item.trim()).filter((item) => item !== '');
  }
  return fields;
}

export type ModerationClassifier = (error: UpstreamErrorFields) => 'input' | 'output' | undefined;

/**
 * OpenAI: `content_policy_violation` (DALL·E) and `moderation_blocked` (gpt-image), staged by
 * `moderation_details`; without it, a message about the generated image means the output was flagged.
 */
export const classifyOpenAIModeration: ModerationClassifier = (error) => {
  if (error.code !== 'content_policy_violation' && error.code !== 'moderation_blocked') return undefined;
  return error.moderationStage ?? stageFromMessage(error.message);
};

/** Upstreams that give no stage say "generated image" (or "output") when the result was flagged. */
export function stageFromMessage(message: string | undefined): 'input' | 'output' {
  return /generated image|output/i.test(message ?? '') ? 'output' : 'input';
}

/**
 * Maps a non-2xx Images answer: moderation (as the classifier recognises it) → moderationError;
 * everything else through the common taxonomy, keeping the upstream's `param` for 4xx validation errors.
 */
export function errorFromImagesResponse(input: {
  provider: string;
  model: string;
  response: HttpResponse;
  secrets: string[];
  classifyModeration: ModerationClassifier;
}): GatewayError {
  const { provider, response } = input;
  const upstream = readUpstreamError(response.body);
  if (upstream && response.status >= 400 && response.status < 500 && response.status !== 429) {
    const stage = input.classifyModeration(upstream);
    if (stage !== undefined) {
      return moderationError({ provider, model: input.model, stage, ...(upstream.categories.length > 0 ? { reasons: upstream.categories } : {}) });
    }
  }
  // OpenAI's 429 `insufficient_quota` ("You exceeded your current quota, please check your plan and
  // billing details", https://platform.openai.com/docs/guides/error-codes) is an empty account, not a
  // rate limit: waiting never helps, another channel might. Older bodies carry it only in `type`.
  if (response.status === 429 && (upstream?.code === 'insufficient_quota' || upstream?.type === 'insufficient_quota')) {
    return outOfFundsError(provider, response.status);
  }
  if (upstream?.code === 'DeploymentNotFound') {
    // Azure: the channel names a deployment the resource lacks. The client's request is fine; the config is not.
    return new GatewayError('upstream_error', `${provider} has no such deployment (HTTP ${response.status}); the channel's deployment mapping needs attention`, {
      retryable: false,
      cause: { provider, status: response.status, code: upstream.code },
    });
  }
  const base = errorFromUpstreamResponse(provider, response, {
    secrets: input.secrets,
    ...(upstream?.message === undefined ? {} : { message: upstream.message }),
  });
  if (upstream?.param === undefined || base.code !== 'invalid_value') return base;
  return new GatewayError(base.code, base.message, {
    param: upstream.param,
    retryable: base.retryable,
    ...(base.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: base.retryAfterSeconds }),
    ...(base.details === undefined ? {} : { details: base.details }),
    cause: base.cause,
    status: base.status,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
