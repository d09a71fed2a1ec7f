// Validates a client's image request against its model's catalog entry and resolves every default:
// the only place that knows which parameter each model accepts. Errors name the param and list
// what is allowed; anything mapped or ignored becomes a warning the client sees in a header.

import { GatewayError, invalidValue } from './errors.js';
import type { Catalog } from './catalog/catalog.js';
import type { CatalogModel, Operation, ResponseFormat } from './catalog/types.js';
import type { Background, InputImage, OutputFormat, PixelSize } from './ports/image-model.js';
import { formatSize, resolveSize } from './sizes.js';

/** The request fields as received (JSON body, or multipart text fields already converted to their types). */
export type RawImageRequest = Record<string, unknown>;

export interface ImageRequest {
  operation: Operation;
  model: CatalogModel;
  /** The model name the client sent (an alias stays visible in logs). */
  requestedModel: string;
  /**
   * False when the client gave neither `size` (other than `auto`) nor `aspect_ratio`: an edit then
   * keeps its input image's shape (sizes.ts, sizeKeepingShape) once the image is known.
   */
  sizeGiven?: boolean;
  prompt: string;
  n: number;
  size: PixelSize;
  aspectRatio: string;
  quality?: string;
  style?: string;
  background: Background;
  outputFormat: OutputFormat;
  outputCompression?: number;
  moderation?: string;
  seed?: number;
  user?: string;
  inputFidelity?: string;
  responseFormat: ResponseFormat;
  stream: boolean;
  partialImages: number;
  images: InputImage[];
  mask?: InputImage;
  providerOptions: Record<string, unknown>;
  /**
   * Set when the client asked for an image set (Seedream's `sequential_image_generation: "auto"`): one
   * upstream call whose model decides how many related images it returns, up to `n` (the set's
   * `max_images`), instead of n independent images. See imageSetOf.
   */
  imageSet?: boolean;
  warnings: string[];
  /**
   * Params the client did not send (or sent as `auto`/null) whose value is the catalog's default:
   * a provider that cannot honour one says nothing, since the client asked for nothing.
   */
  defaulted?: string[];
  /**
   * Set when the request came in another API's dialect (BFL, Replicate, Midjourney-proxy): which one
   * and what that dialect must remember to answer in its own shape later (its original input, its
   * webhook filter …). Opaque to the core; kept with a task's request so it survives a restart.
   */
  dialect?: DialectContext;
  /**
   * Served by this channel only, never failed over: a dialect's follow-up on an upstream task
   * (a Midjourney button) must go to the upstream account that holds the original.
   */
  channel?: string;
}

export interface DialectContext {
  name: string;
  data: Record<string, unknown>;
}

/** Fields the gateway itself understands; anything else is a provider option. */
const knownFields = new Set([
  'model', 'prompt', 'n', 'size', 'aspect_ratio', 'quality', 'style', 'response_format', 'output_format',
  'output_compression', 'background', 'moderation', 'seed', 'user', 'stream', 'partial_images', 'input_fidelity',
  'image', 'image[]', 'images', 'mask',
]);

/** Fields that steer the gateway (async tasks, webhooks) and are never sent upstream. */
export const gatewayControlFields = new Set(['async', 'callback_url', 'webhook_url', 'webhook_secret']);

const defaultModels: Record<Operation, string> = { generate: 'dall-e-2', edit: 'gpt-image-1.5', variation: 'dall-e-2' };

const operationNames: Record<Operation, string> = { generate: 'image generation', edit: 'image edits', variation: 'image variations' };

/** null means "use the default", as in OpenAI's nullable fields. */
function present(body: RawImageRequest, field: string): unknown {
  const value = body[field];
  return value === null ? undefined : value;
}

function optionalString(body: RawImageRequest, field: string): string | undefined {
  const value = present(body, field);
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new GatewayError('invalid_value', `'${field}' must be a string.`, { param: field });
  return value;
}

function optionalInteger(body: RawImageRequest, field: string, min: number, max: number): number | undefined {
  const value = present(body, field);
  if (value === undefined) return undefined;
  const allowed = min === max ? `It must be ${min}.` : `It must be an integer between ${min} and ${max}.`;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new GatewayError('invalid_value', `Invalid value for '${field}': ${JSON.stringify(value)}. ${allowed}`, { param: field });
  }
  if (value < min || value > max) {
    throw new GatewayError('invalid_value', `Invalid value for '${field}': ${value}. ${allowed}`, { param: field });
  }
  return value;
}

function optionalBoolean(body: RawImageRequest, field: string): boolean | undefined {
  const value = present(body, field);
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw new GatewayError('invalid_value', `'${field}' must be a boolean.`, { param: field });
  return value;
}

function oneOf<T extends string>(field: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw invalidValue(field, value, allowed);
  return value as T;
}

export function resolveModel(catalog: Catalog, operation: Operation, body: RawImageRequest): { model: CatalogModel; requestedModel: string } {
  const requestedModel = optionalString(body, 'model') ?? defaultModels[operation];
  const resolved = catalog.get(requestedModel);
  if (!resolved) {
    throw new GatewayError('model_not_found', `The model '${requestedModel}' does not exist or you do not have access to it.`, { param: 'model' });
  }
  const { model } = resolved;
  if (!model.operations.includes(operation)) {
    const able = catalog.list().filter((m) => m.operations.includes(operation)).map((m) => m.id);
    throw invalidValue('model', requestedModel, `${requestedModel} does not support ${operationNames[operation]}. Models that do: ${able.join(', ')}.`);
  }
  return { model, requestedModel };
}

/**
 * Validates everything but the image inputs (edits and variations attach those after their own
 * checks in image-inputs.ts). Throws GatewayError on the first violation.
 */
export function parseImageRequest(catalog: Catalog, operation: Operation, body: RawImageRequest): ImageRequest {
  const { model, requestedModel } = resolveModel(catalog, operation, body);
  const warnings: string[] = [];
  const defaulted: string[] = [];
  if (requestedModel !== model.id) warnings.push(`model ${requestedModel} is served by ${model.id}`);

  const prompt = optionalString(body, 'prompt');
  if (operation !== 'variation') {
    if (prompt === undefined) throw new GatewayError('missing_required_parameter', "Missing required parameter: 'prompt'.", { param: 'prompt' });
    if (prompt.trim().length === 0) throw new GatewayError('invalid_value', "'prompt' must not be empty.", { param: 'prompt' });
    if (prompt.length > model.prompt_max_length) {
      throw new GatewayError(
        'invalid_value',
        `'prompt' is too long: ${prompt.length} characters; the maximum for ${model.id} is ${model.prompt_max_length}.`,
        { param: 'prompt' },
      );
    }
  }

  const set = imageSetOf(body);
  const requestedN = optionalInteger(body, 'n', 1, model.max_n);
  if (set !== undefined && requestedN !== undefined && requestedN > 1) {
    throw new GatewayError(
      'invalid_value',
      `'n' cannot be combined with sequential_image_generation "auto": a set is one call whose size the model decides, up to sequential_image_generation_options.max_images (${set.maxImages}). Send one or the other.`,
      { param: 'n' },
    );
  }
  // A set reserves, rate-limits and delivers up to its max_images; it is charged per image delivered.
  const n = set?.maxImages ?? requestedN ?? 1;

  const sizeText = optionalString(body, 'size');
  const aspectRatio = optionalString(body, 'aspect_ratio');
  const resolvedSize = resolveSize(model, { size: sizeText, aspectRatio });
  warnings.push(...resolvedSize.warnings);

  let quality: string | undefined;
  let qualityText = optionalString(body, 'quality');
  const qualityAlias = qualityText === undefined ? undefined : model.quality_aliases?.[qualityText];
  if (qualityAlias !== undefined) {
    warnings.push(`quality '${qualityText}' is not offered by ${model.id}; used '${qualityAlias}'`);
    qualityText = qualityAlias;
  }
  if (model.qualities) {
    if (qualityText !== undefined) oneOf('quality', qualityText, [...new Set([...model.qualities, 'auto'])]);
    quality = qualityText === undefined || qualityText === 'auto' ? model.default_quality : qualityText;
    if (qualityText === undefined || qualityText === 'auto') defaulted.push('quality');
  } else if (qualityText !== undefined && qualityText !== 'auto') {
    warnings.push(`quality is not supported by ${model.id}; ignored`);
  }

  let style: string | undefined;
  const styleText = optionalString(body, 'style');
  if (model.styles) {
    style = styleText === undefined ? model.default_style : oneOf('style', styleText, model.styles);
    if (styleText === undefined) defaulted.push('style');
  } else if (styleText !== undefined) {
    warnings.push(`style is not supported by ${model.id}; ignored`);
  }

  const responseFormatText = optionalString(body, 'response_format');
  const responseFormat: ResponseFormat =
    responseFormatText === undefined ? model.default_response_format : oneOf('response_format', responseFormatText, ['url', 'b64_json'] as const);

  let outputFormatText = optionalString(body, 'output_format');
  if (outputFormatText === 'jpg') {
    outputFormatText = 'jpeg';
    warnings.push('output_format jpg is spelled jpeg');
  }
  const outputFormat: OutputFormat =
    outputFormatText === undefined ? model.default_output_format : oneOf('output_format', outputFormatText, model.output_formats);

  const backgroundText = optionalString(body, 'background');
  const background: Background =
    backgroundText === undefined ? 'auto' : oneOf('background', backgroundText, [...new Set([...model.backgrounds, 'auto' as const])]);
  if (background === 'transparent' && outputFormat === 'jpeg') {
    throw new GatewayError(
      'invalid_value',
      "background 'transparent' needs an output_format with an alpha channel: use 'png' or 'webp'.",
      { param: 'background' },
    );
  }

  const outputCompression = optionalInteger(body, 'output_compression', 0, 100);
  if (outputCompression !== undefined && outputFormat === 'png') {
    warnings.push('output_compression applies to jpeg and webp only; ignored for png');
  }

  let moderation: string | undefined;
  const moderationText = optionalString(body, 'moderation');
  if (moderationText !== undefined) {
    if (model.moderation) moderation = oneOf('moderation', moderationText, model.moderation);
    else warnings.push(`moderation is not supported by ${model.id}; ignored`);
  }

  const seed = optionalInteger(body, 'seed', 0, 4_294_967_295);
  const user = optionalString(body, 'user');

  let inputFidelity: string | undefined;
  const fidelityText = optionalString(body, 'input_fidelity');
  if (fidelityText !== undefined) {
    if (operation !== 'edit') warnings.push('input_fidelity applies to edits only; ignored');
    else if (model.edit?.input_fidelity) inputFidelity = oneOf('input_fidelity', fidelityText, model.edit.input_fidelity);
    else warnings.push(`input_fidelity is not supported by ${model.id}; ignored`);
  }

  const stream = optionalBoolean(body, 'stream') ?? false;
  const partialImages = optionalInteger(body, 'partial_images', 0, 3) ?? 0;
  if (stream && operation === 'variation') {
    throw new GatewayError('invalid_value', 'Variations cannot be streamed.', { param: 'stream' });
  }
  // Only models whose catalog entry says they stream answer with events: OpenAI's stream types need
  // the gpt-image events (with `usage`), which other models cannot produce.
  if (stream && model.streaming !== true) {
    const able = catalog.list().filter((candidate) => candidate.streaming === true && candidate.operations.includes(operation)).map((candidate) => candidate.id);
    throw new GatewayError('invalid_value', `${model.id} does not support 'stream'. Models that do: ${able.join(', ')}.`, { param: 'stream' });
  }

  const providerOptions: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(body)) {
    if (!knownFields.has(field) && !gatewayControlFields.has(field)) providerOptions[field] = value;
  }
  checkProviderOptionBounds(providerOptions);
  const passed = Object.keys(providerOptions);
  if (passed.length > 0) warnings.push(`passed to the provider as-is: ${passed.join(', ')}`);

  return {
    operation,
    model,
    requestedModel,
    prompt: prompt ?? '',
    n,
    size: resolvedSize.size,
    aspectRatio: resolvedSize.aspectRatio,
    sizeGiven: (sizeText !== undefined && sizeText !== 'auto') || aspectRatio !== undefined,
    quality,
    style,
    background,
    outputFormat,
    outputCompression: outputFormat === 'png' ? undefined : outputCompression,
    moderation,
    seed,
    user,
    inputFidelity,
    responseFormat,
    stream,
    partialImages,
    images: [],
    mask: undefined,
    providerOptions,
    ...(set === undefined ? {} : { imageSet: true }),
    warnings,
    defaulted,
  };
}

/**
 * Volcengine Ark "图片生成 API" (https://www.volcengine.com/docs/82379/1541523), as its parameter table
 * is quoted by resellers (novita.ai, apidoc.cometapi.com): `sequential_image_generation` "auto：自动判断模式，
 * 模型会根据用户提供的提示词自主判断是否返回组图以及组图包含的图片数量 / disabled：关闭组图功能，模型只会生成一张图"
 * (default disabled), and `sequential_image_generation_options.max_images` "Specifies the maximum number
 * of images that can be generated in this request. Number of input reference images + number of generated
 * images ≤ 15. Value range: [1, 15]" (default 15). Only Seedream has sets today, so its field names are how
 * a client asks for one; the fields stay in providerOptions for the adapter, and a model without sets
 * refuses the request (generate-images.ts).
 */
export const maxImagesPerSet = 15;

/**
 * A set counts its reference images against its most images (Ark: "Number of input reference images +
 * number of generated images ≤ 15", see maxImagesPerSet), once its inputs are attached: the set asks for, reserves and rate-limits only
 * what the references leave room for, so a key is not refused for images that cannot come.
 */
export function limitSetByReferences(request: ImageRequest): void {
  const room = maxImagesPerSet - request.images.length;
  if (room < 1) {
    throw new GatewayError('invalid_value', `An image set counts its reference images against ${maxImagesPerSet} images in all; ${request.images.length} references leave no room for one.`, {
      param: 'image',
    });
  }
  if (request.n <= room) return;
  request.warnings.push(`max_images lowered from ${request.n} to ${room}: the set's ${request.images.length} reference images count against ${maxImagesPerSet} images in all`);
  request.n = room;
}

function imageSetOf(body: RawImageRequest): { maxImages: number } | undefined {
  const mode = body['sequential_image_generation'];
  if (mode === undefined || mode === null || mode === 'disabled') return undefined;
  if (mode !== 'auto') throw invalidValue('sequential_image_generation', String(mode).slice(0, 40), ['auto', 'disabled']);
  let options = body['sequential_image_generation_options'];
  // A multipart edit carries the object as JSON text.
  if (typeof options === 'string' && options.length <= 200) {
    try {
      options = JSON.parse(options) as unknown;
    } catch {
      // Refused below as not an object.
    }
  }
  if (options !== undefined && options !== null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new GatewayError('invalid_value', "'sequential_image_generation_options' must be an object such as {\"max_images\": 4}.", { param: 'sequential_image_generation_options' });
  }
  const maxImages = (options as Record<string, unknown> | null | undefined)?.['max_images'] ?? maxImagesPerSet;
  if (typeof maxImages !== 'number' || !Number.isInteger(maxImages) || maxImages < 1 || maxImages > maxImagesPerSet) {
    throw new GatewayError('invalid_value', `Invalid value for 'sequential_image_generation_options.max_images': ${JSON.stringify(maxImages).slice(0, 40)}. It must be an integer between 1 and ${maxImagesPerSet}.`, {
      param: 'sequential_image_generation_options.max_images',
    });
  }
  return { maxImages };
}

export const sizeLabel = (request: ImageRequest): string => formatSize(request.size);

/**
 * Bounds on the fields passed to the provider as-is, so a request cannot carry megabytes of them into
 * an upstream call or a task row (the body limit alone would let 60 MB through). Generous for real
 * extras (negative_prompt, guidance, LoRA lists) and far below any body limit.
 */
export const providerOptionLimits = { maxFields: 32, maxNameLength: 64, maxTotalBytes: 64 * 1024 } as const;

function checkProviderOptionBounds(options: Record<string, unknown>): void {
  const names = Object.keys(options);
  if (names.length > providerOptionLimits.maxFields) {
    throw new GatewayError('invalid_value', `The request has ${names.length} parameters this gateway does not know; at most ${providerOptionLimits.maxFields} are passed to a provider.`, {
      param: names[providerOptionLimits.maxFields] ?? null,
    });
  }
  let total = 0;
  for (const name of names) {
    if (name.length > providerOptionLimits.maxNameLength) {
      throw new GatewayError('invalid_value', `Unknown parameter names may be at most ${providerOptionLimits.maxNameLength} characters long.`, { param: name.slice(0, 64) });
    }
    total += name.length + Buffer.byteLength(JSON.stringify(options[name]) ?? '');
    if (total > providerOptionLimits.maxTotalBytes) {
      throw new GatewayError('invalid_value', `Parameters passed to the provider as-is may total at most ${providerOptionLimits.maxTotalBytes} bytes; '${name}' passes that.`, { param: name });
    }
  }
}
