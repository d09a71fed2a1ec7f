// The Recraft wire format: request bodies for /images/generations, /images/imageToImage and
// /images/inpaint (JSON, inputs as data URLs), and how Recraft's failures map to the gateway's errors.
// Sources are named in models.ts; the JSON edit bodies are ImageToImageJSONRequest and
// TransformImageWithMaskJSONRequest of Recraft's OpenAPI file (`image_url`, `mask_url`: "URL or data
// URL"), and Recraft's own advice is to send JSON so nested fields such as `controls` keep working
// (https://www.recraft.ai/docs/api-reference/agents, rule 7).

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, InputImage, ProviderWarning } from '../../core/ports/image-model.js';
import { whiteRepaintMask } from '../shared/masks.js';
import type { HttpResponse } from '../shared/types.js';
import { errorFromUpstreamResponse, extractUpstreamMessage, moderationError, outOfFundsError, sanitizeUpstreamMessage, saysOutOfFunds } from '../shared/upstream-errors.js';
import { passThroughFields, recraftProfile } from './models.js';

export const recraftProviderName = 'recraft';

export type RecraftOperation = 'generations' | 'imageToImage' | 'inpaint';

export interface RecraftCall {
  operation: RecraftOperation;
  body: Record<string, unknown>;
  warnings: ProviderWarning[];
}

/** imageToImage requires `strength` ("[0, 1], 0 almost identical, 1 minimal similarity"); OpenAI edits have none. */
export const defaultEditStrength = 0.5;

const maxColors = 16;
const maxTextLayoutItems = 32;
const maxNegativePromptLength = 10_000;

/**
 * The call for one generation or edit: every OpenAI option either sent under Recraft's name, or left
 * out with a warning. Recraft's own fields (substyle, controls, negative_prompt, text_layout …) pass
 * through after checks; any other unknown field is dropped and said, never sent blind.
 */
export async function buildRecraftCall(options: ImageCallOptions, edit: boolean): Promise<RecraftCall> {
  const profile = recraftProfile(options.model);
  const warnings: ProviderWarning[] = [];
  const unsupported = (param: string, why: string) => warnings.push({ type: 'unsupported', param, message: `${param} ${why} and was ignored.` });
  const body: Record<string, unknown> = { model: options.model, prompt: options.prompt, n: options.n, response_format: 'b64_json' };
  let operation: RecraftOperation = 'generations';

  if (!edit) {
    body['size'] = `${options.size.width}x${options.size.height}`;
  } else {
    const image = options.images[0];
    if (image === undefined || options.images.length > 1) {
      throw new GatewayError('invalid_value', `${options.model} edits exactly one image; got ${options.images.length}.`, { param: 'image' });
    }
    body['image_url'] = dataUrl(image.data, image.mediaType);
    if (options.mask !== undefined) {
      if (!profile.inpaints) {
        throw new GatewayError('invalid_value', `${options.model} cannot inpaint with a mask (Recraft inpaints with V3 models); send the edit without a mask, or use recraftv3.`, { param: 'mask' });
      }
      operation = 'inpaint';
      body['mask_url'] = dataUrl(await whiteRepaintMask(options.mask), 'image/png');
    } else {
      operation = 'imageToImage';
      body['strength'] = readStrength(options.providerOptions['strength']);
    }
  }

  if (options.style !== undefined) {
    if (profile.styles.includes(options.style)) body['style'] = options.style;
    else unsupported('style', `'${options.style}' is not a style of ${options.model}${profile.styles.length === 0 ? ' (V4 models take none)' : ` (${profile.styles.join(', ')})`}`);
  }
  // Raster models choose between webp and png (ImageFormat); the gateway encodes jpeg from the lossless one.
  if (!profile.vector && options.outputFormat !== 'svg') body['image_format'] = options.outputFormat === 'webp' ? 'webp' : 'png';
  if (options.seed !== undefined) body['random_seed'] = options.seed >>> 0;
  if (options.quality !== undefined) unsupported('quality', `'${options.quality}' is not a Recraft parameter`);
  if (options.user !== undefined) unsupported('user', 'is not a Recraft parameter');

  for (const [field, value] of Object.entries(options.providerOptions)) {
    if (field === 'strength' && edit && operation === 'imageToImage') continue;
    if (!(passThroughFields as readonly string[]).includes(field)) {
      unsupported(field, 'is not a Recraft parameter the gateway passes on');
      continue;
    }
    if (field === 'negative_prompt' && !recraftProfile(options.model).negativePrompt) {
      unsupported(field, `is taken by Recraft V3 models only, not ${options.model}`);
      continue;
    }
    body[field] = checkedField(field, value, options.model, body['style']);
  }
  if (body['style_id'] !== undefined && body['style'] !== undefined) {
    throw new GatewayError('invalid_value', "style and style_id are mutually exclusive for Recraft; send one of them.", { param: 'style_id' });
  }
  return { operation, body, warnings };
}

function checkedField(field: string, value: unknown, model: string, style: unknown): unknown {
  const invalid = (message: string) => new GatewayError('invalid_value', message, { param: field });
  switch (field) {
    case 'substyle': {
      const profile = recraftProfile(model);
      if (typeof value !== 'string') throw invalid('substyle must be a string.');
      if (typeof style !== 'string') throw invalid(`substyle needs a style: substyles are defined per style (${Object.keys(profile.substyles).join(', ') || `none for ${model}`}).`);
      const allowed = profile.substyles[style] ?? [];
      if (!allowed.includes(value)) throw invalid(`Invalid substyle '${value}' for ${model} with style ${style}. Supported values are: ${allowed.map((item) => `'${item}'`).join(', ') || 'none'}.`);
      return value;
    }
    case 'style_id':
      if (typeof value !== 'string' || !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) throw invalid('style_id must be a style UUID.');
      return value;
    case 'negative_prompt':
      if (typeof value !== 'string' || value.length > maxNegativePromptLength) throw invalid(`negative_prompt must be a string of at most ${maxNegativePromptLength} characters.`);
      return value;
    case 'block_nsfw':
      if (typeof value !== 'boolean') throw invalid('block_nsfw must be true or false.');
      return value;
    case 'controls':
      return checkedControls(value, invalid);
    case 'text_layout':
      return checkedTextLayout(value, invalid);
    default:
      return value;
  }
}

/** UserControls: `colors` and `background_color` as ImageColor ({rgb: [r, g, b]}), `no_text`, `artistic_level`. */
function checkedControls(value: unknown, invalid: (message: string) => GatewayError): Record<string, unknown> {
  if (!isRecord(value)) throw invalid('controls must be an object.');
  const controls: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === 'colors') {
      if (!Array.isArray(item) || item.length > maxColors || !item.every(isImageColor)) throw invalid(`controls.colors must be a list of at most ${maxColors} {"rgb": [r, g, b]} colors (0-255).`);
    } else if (key === 'background_color') {
      if (!isImageColor(item)) throw invalid('controls.background_color must be {"rgb": [r, g, b]} (0-255).');
    } else if (key === 'no_text') {
      if (typeof item !== 'boolean') throw invalid('controls.no_text must be true or false.');
    } else if (key === 'artistic_level') {
      if (!Number.isInteger(item) || (item as number) < 0 || (item as number) > 5) throw invalid('controls.artistic_level must be an integer from 0 to 5.');
    } else {
      throw invalid(`controls.${key} is not a Recraft control (colors, background_color, no_text, artistic_level).`);
    }
    controls[key] = item;
  }
  return controls;
}

function isImageColor(value: unknown): boolean {
  if (!isRecord(value) || !Array.isArray(value['rgb']) || value['rgb'].length !== 3) return false;
  return value['rgb'].every((channel) => Number.isInteger(channel) && channel >= 0 && channel <= 255);
}

/** TextLayout: [{text, bbox: [[x, y] × 4]}], coordinates relative to the image (0..1). */
function checkedTextLayout(value: unknown, invalid: (message: string) => GatewayError): unknown {
  const ok =
    Array.isArray(value) &&
    value.length <= maxTextLayoutItems &&
    value.every(
      (item) =>
        isRecord(item) &&
        typeof item['text'] === 'string' &&
        item['text'].length <= 1000 &&
        Array.isArray(item['bbox']) &&
        item['bbox'].length === 4 &&
        item['bbox'].every((point) => Array.isArray(point) && point.length === 2 && point.every((n) => typeof n === 'number' && Number.isFinite(n))),
    );
  if (!ok) throw invalid(`text_layout must be a list of at most ${maxTextLayoutItems} {"text", "bbox": [[x, y], [x, y], [x, y], [x, y]]} items.`);
  return value;
}

function readStrength(raw: unknown): number {
  if (raw === undefined) return defaultEditStrength;
  // Edits arrive as multipart, whose fields are text.
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : raw;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new GatewayError('invalid_value', 'strength must be a number from 0 (almost the original) to 1 (little of it kept).', { param: 'strength' });
  }
  return value;
}

function dataUrl(data: Buffer, mediaType: InputImage['mediaType'] | 'image/png'): string {
  return `data:${mediaType};base64,${data.toString('base64')}`;
}

/**
 * Recraft documents only that a failure is a non-2xx status whose body is plain text or JSON ("Read
 * the body as text first", https://www.recraft.ai/docs/api-reference/error-handling), with 401
 * `request unauthorized` for a bad token. So the status decides (402 and any "not enough credits"
 * wording → out of funds, 429 → rate limited with its retry-after), and a 4xx refusal that speaks of
 * NSFW or moderation is reported as the gateway's moderation error.
 */
export function errorFromRecraftResponse(response: HttpResponse, model: string, secrets: string[]): GatewayError {
  const text = sanitizeUpstreamMessage(extractUpstreamMessage(response.body), secrets);
  if (response.status >= 400 && response.status < 500 && response.status !== 401 && response.status !== 429) {
    if (saysOutOfFunds(text) || /not enough (?:api )?(?:units|credits)|(?:api units?|credits?) balance/i.test(text)) return outOfFundsError(recraftProviderName, response.status);
    if (/nsfw|moderation|inappropriate|content polic|safety/i.test(text)) {
      return moderationError({ provider: recraftProviderName, model, stage: /generated|result|output/i.test(text) ? 'output' : 'input' });
    }
  }
  return errorFromUpstreamResponse(recraftProviderName, response, { secrets });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
