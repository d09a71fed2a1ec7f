// A local fake of Recraft's image API (https://external.api.recraft.ai/v1): generations, image to
// image and inpainting, raster (PNG/WebP) and vector (SVG) results, with Recraft's rules.
//
// Sources (each rule below names its own):
// - Recraft's OpenAPI file, https://external.api.recraft.ai/doc/spec/internal/externalapi/api.yaml
//   (copy: tryAGI/Recraft src/libs/Recraft/openapi.yaml, 2026-08-21) — "OpenAPI" below.
// - https://www.recraft.ai/docs/api-reference/endpoints, /appendix, /pricing, /styles,
//   /tools/image-to-image, /error-handling, /models — "docs/<page>" below.
// - recraft-ai/mcp-recraft-server src/utils/parameters.ts (Recraft's own MCP server): substyles per
//   model and style — "mcp-recraft-server" below.
//
// Routes: POST /v1/images/generations | /v1/images/imageToImage | /v1/images/inpaint (JSON, or
// multipart with `image`/`mask` files), GET /results/{id}.{ext} (result URLs, kept "about 24 hours",
// docs/agents rule 6). Auth: `Authorization: Bearer <token>`.
//
// Failure bodies: Recraft documents 401 `request unauthorized` and 404 `404 page not found` as
// text/plain and says of the rest only that "the body explains the error, but its format varies: some
// errors return plain text, others JSON" (docs/error-handling). Validation failures here are 400 with
// JSON `{"code", "message"}`; the switches below render as follows, the bodies being this fake's
// choice within that rule (the adapter reads the status first and only then the words):
//   failStatus        that status, JSON {code, message}; 429 carries retry-after
//   outOfFunds        402 {"code": "not_enough_credits", "message": "Not enough API units …"} (the token
//                     "needs a positive API units balance", docs/agents)
//   moderation        400 {"code": "nsfw_content", …}: input — the prompt; output — the generated image
//   hang, latencyMs, maxImages, malformed (200, truncated JSON), resultUrlTtlMs (404 after it)
//   pollsBeforeReady  not applicable: the API answers synchronously

import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { createImageCache, delay, isRecord, makeTestImage, resultExpired, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export const defaultRecraftFakeToken = 'recraft-test-token-0123456789';

export interface RecraftFakeOptions {
  port?: number;
  token?: string;
  switches?: FakeSwitches;
  /** Replaces the SVG the vector models draw (tests: a hostile document the gateway must refuse). */
  vectorDocument?: (width: number, height: number) => string;
}

/** One call the fake accepted and answered with images (what Recraft would bill). */
export interface RecraftCall {
  operation: 'generations' | 'imageToImage' | 'inpaint';
  body: Record<string, unknown>;
  /** Decoded input image and mask sizes (edits). */
  image?: { width: number; height: number };
  mask?: { width: number; height: number; channels: number };
  /** API units charged (`credits` in the answer). */
  credits: number;
}

export interface RecraftFake extends FakeServer {
  switches: FakeSwitches;
  token: string;
  calls: RecraftCall[];
}

/** TransformModel (OpenAPI) members this fake renders: Recraft's own image models. */
interface ModelRules {
  family: 'v2' | 'v3' | 'v4';
  vector: boolean;
  /** API units per image (docs/pricing, docs/models/recraft-v4-1: 1,000 units = $1). */
  units: number;
}

const models: Record<string, ModelRules> = {
  recraftv2: { family: 'v2', vector: false, units: 22 },
  recraftv2_vector: { family: 'v2', vector: true, units: 44 },
  recraftv3: { family: 'v3', vector: false, units: 40 },
  recraftv3_vector: { family: 'v3', vector: true, units: 80 },
  recraftv4: { family: 'v4', vector: false, units: 40 },
  recraftv4_vector: { family: 'v4', vector: true, units: 80 },
  recraftv4_1: { family: 'v4', vector: false, units: 35 },
  recraftv4_1_vector: { family: 'v4', vector: true, units: 80 },
};
/** "defaults to recraftv4_1" (docs/models overview). */
const defaultModel = 'recraftv4_1';

/** docs/appendix, "Maximum prompt length": 1000 for V2/V3, 10000 for V4 and V4.1. */
const promptLimit = { v2: 1000, v3: 1000, v4: 10000 } as const;

/** docs/appendix, "List of supported image sizes" (aspect → size) per family. */
const sizes = {
  v4: { '1:1': '1024x1024', '2:1': '1536x768', '1:2': '768x1536', '3:2': '1280x832', '2:3': '832x1280', '4:3': '1216x896', '3:4': '896x1216', '5:4': '1152x896', '4:5': '896x1152', '6:10': '832x1344', '14:10': '1280x896', '10:14': '896x1280', '16:9': '1344x768', '9:16': '768x1344' },
  v3: { '1:1': '1024x1024', '2:1': '2048x1024', '1:2': '1024x2048', '3:2': '1536x1024', '2:3': '1024x1536', '4:3': '1365x1024', '3:4': '1024x1365', '5:4': '1280x1024', '4:5': '1024x1280', '6:10': '1024x1707', '14:10': '1434x1024', '10:14': '1024x1434', '16:9': '1820x1024', '9:16': '1024x1820' },
} as const;

/**
 * Styles per model (mcp-recraft-server: "realistic_image, digital_illustration, vector_illustration
 * are available in both models, but icon is available only for recraftv2, and logo_raster is available
 * only for recraftv3"; `any` is an ImageStyle of the OpenAPI file); "Styles are not supported for V4
 * models" (docs/styles). vector_illustration and icon are vector styles: they answer SVG.
 */
const styles = {
  v2: ['any', 'realistic_image', 'digital_illustration', 'vector_illustration', 'icon'],
  v3: ['any', 'realistic_image', 'digital_illustration', 'vector_illustration', 'logo_raster'],
  v4: [],
} as const;
const vectorStyles = ['vector_illustration', 'icon'];

/** Substyles per (family, style), from mcp-recraft-server ("If you will provide a substyle that is not available … generation will fail"). */
const substyles: Record<'v2' | 'v3', Record<string, readonly string[]>> = {
  v3: {
    realistic_image: ['b_and_w', 'enterprise', 'evening_light', 'faded_nostalgia', 'forest_life', 'hard_flash', 'hdr', 'motion_blur', 'mystic_naturalism', 'natural_light', 'natural_tones', 'organic_calm', 'real_life_glow', 'retro_realism', 'retro_snapshot', 'studio_portrait', 'urban_drama', 'village_realism', 'warm_folk'],
    digital_illustration: ['2d_art_poster', '2d_art_poster_2', 'antiquarian', 'bold_fantasy', 'child_book', 'cover', 'crosshatch', 'digital_engraving', 'engraving_color', 'expressionism', 'freehand_details', 'grain', 'grain_20', 'graphic_intensity', 'hand_drawn', 'hand_drawn_outline', 'handmade_3d', 'hard_comics', 'infantile_sketch', 'long_shadow', 'modern_folk', 'multicolor', 'neon_calm', 'noir', 'nostalgic_pastel', 'outline_details', 'pastel_gradient', 'pastel_sketch', 'pixel_art', 'plastic', 'pop_art', 'pop_renaissance', 'seamless', 'street_art', 'tablet_sketch', 'urban_glow', 'urban_sketching', 'young_adult_book', 'young_adult_book_2'],
    vector_illustration: ['bold_stroke', 'chemistry', 'colored_stencil', 'cosmics', 'cutout', 'depressive', 'editorial', 'emotional_flat', 'engraving', 'line_art', 'line_circuit', 'linocut', 'marker_outline', 'mosaic', 'naivector', 'roundish_flat', 'seamless', 'segmented_colors', 'sharp_contrast', 'thin', 'vector_photo', 'vivid_shapes'],
    logo_raster: ['emblem_graffiti', 'emblem_pop_art', 'emblem_punk', 'emblem_stamp', 'emblem_vintage'],
  },
  v2: {
    realistic_image: ['b_and_w', 'enterprise', 'hard_flash', 'hdr', 'motion_blur', 'natural_light', 'studio_portrait'],
    digital_illustration: ['2d_art_poster', '2d_art_poster_2', '3d', '80s', 'engraving_color', 'glow', 'grain', 'hand_drawn', 'hand_drawn_outline', 'handmade_3d', 'infantile_sketch', 'kawaii', 'pixel_art', 'plastic', 'psychedelic', 'seamless', 'voxel', 'watercolor'],
    vector_illustration: ['cartoon', 'doodle_line_art', 'engraving', 'flat_2', 'kawaii', 'line_art', 'line_circuit', 'linocut', 'seamless'],
    icon: ['broken_line', 'colored_outline', 'colored_shapes', 'colored_shapes_gradient', 'doodle_fill', 'doodle_offset_fill', 'offset_fill', 'outline', 'outline_gradient', 'pictogram'],
  },
};

/** Request fields of GenerateImageRequestBase (OpenAPI) plus `style_reference_urls` of its JSON form. */
const generationFields = new Set(['block_nsfw', 'calculate_features', 'controls', 'creativity', 'expire', 'image_format', 'model', 'n', 'negative_prompt', 'prompt', 'random_seed', 'response_format', 'size', 'style', 'style_id', 'style_match', 'substyle', 'text_layout', 'upscale', 'style_reference_urls']);
/** TransformImageRequestBase (no `size`, no `upscale`) with `image_url` (+ `strength` / `mask_url`). */
const transformFields = new Set([...generationFields].filter((field) => field !== 'size' && field !== 'upscale' && field !== 'style_reference_urls'));

class Rejected extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
const invalid = (message: string) => new Rejected(400, 'invalid_parameter', message);

export async function startRecraftFake(options: RecraftFakeOptions = {}): Promise<RecraftFake> {
  const token = options.token ?? defaultRecraftFakeToken;
  const switches: FakeSwitches = options.switches ?? {};
  const calls: RecraftCall[] = [];
  const results = new Map<string, { data: Buffer; contentType: string; issuedAt: number }>();
  const cache = createImageCache();
  let seed = 0;

  const server = await startFakeServer(async (request, response, raw) => {
    const url = new URL(request.path, 'http://fake');
    if (switches.latencyMs) await delay(switches.latencyMs);
    if (request.method === 'GET' && url.pathname.startsWith('/results/')) {
      const result = results.get(url.pathname.slice('/results/'.length));
      if (result === undefined || resultExpired(result.issuedAt, switches.resultUrlTtlMs)) return sendText(response, 404, '404 page not found');
      return sendBytes(response, 200, result.data, result.contentType);
    }
    const operation = ({ '/v1/images/generations': 'generations', '/v1/images/imageToImage': 'imageToImage', '/v1/images/inpaint': 'inpaint' } as const)[url.pathname];
    if (request.method !== 'POST' || operation === undefined) return sendText(response, 404, '404 page not found');
    // docs/error-handling: "401 | The Authorization header is missing, or the token is invalid | text/plain: request unauthorized".
    if (request.headers['authorization'] !== `Bearer ${token}`) return sendText(response, 401, 'request unauthorized');
    if (switches.hang) return;
    if (switches.outOfFunds) return sendJson(response, 402, { code: 'not_enough_credits', message: 'Not enough API units on the balance to perform the request' });
    if (switches.failStatus) {
      const headers: Record<string, string> = switches.failStatus === 429 ? { 'retry-after': String(switches.retryAfterSeconds ?? 1) } : {};
      return sendJson(response, switches.failStatus, { code: switches.failStatus === 429 ? 'too_many_requests' : 'internal_error', message: `fake failure ${switches.failStatus}` }, headers);
    }
    try {
      const fields = await readFields(request, raw.headers['content-type'] ?? '');
      const call = await validate(operation, fields);
      if (switches.moderation) {
        const message = switches.moderation === 'input' ? 'The prompt was blocked as NSFW content' : 'The generated image was blocked as NSFW content';
        return sendJson(response, 400, { code: 'nsfw_content', message });
      }
      const count = Math.min(call.n, switches.maxImages ?? call.n);
      const images = await Promise.all(Array.from({ length: count }, () => render(call, (seed += 1))));
      calls.push({ operation, body: call.fields, ...(call.image ? { image: call.image } : {}), ...(call.mask ? { mask: call.mask } : {}), credits: call.rules.units * count });
      if (switches.malformed) {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"created":1,"credits":40,"data":[{"image_id":"');
        return;
      }
      const host = raw.headers.host ?? '127.0.0.1';
      const data = images.map(({ data, contentType, extension }) => {
        const imageId = randomUUID();
        const item: Record<string, unknown> = { image_id: imageId };
        if (call.responseFormat === 'b64_json') item['b64_json'] = data.toString('base64');
        else {
          results.set(`${imageId}.${extension}`, { data, contentType, issuedAt: Date.now() });
          item['url'] = `http://${host}/results/${imageId}.${extension}`;
        }
        return item;
      });
      // GenerateImageResponse (OpenAPI): created, credits and data are required.
      sendJson(response, 200, { created: Math.floor(Date.now() / 1000), credits: call.rules.units * count, data });
    } catch (error) {
      if (error instanceof Rejected) return sendJson(response, error.status, { code: error.code, message: error.message });
      throw error;
    }
  }, options.port ?? 0);

  async function render(call: ValidCall, imageSeed: number): Promise<{ data: Buffer; contentType: string; extension: string }> {
    const { width, height } = call.output;
    if (call.svg) {
      const document = options.vectorDocument?.(width, height);
      const data = document !== undefined ? Buffer.from(document) : await cache(`svg-${imageSeed}-${width}x${height}`, async () => Buffer.from(vectorPicture(width, height, imageSeed)));
      return { data, contentType: 'image/svg+xml', extension: 'svg' };
    }
    const data = await makeTestImage(width, height, call.imageFormat, imageSeed);
    return { data, contentType: `image/${call.imageFormat}`, extension: call.imageFormat };
  }

  return {
    url: server.url,
    requests: server.requests,
    close: server.close,
    switches,
    token,
    calls,
  };
}

interface ValidCall {
  fields: Record<string, unknown>;
  rules: ModelRules;
  n: number;
  responseFormat: 'url' | 'b64_json';
  svg: boolean;
  imageFormat: 'png' | 'webp';
  output: { width: number; height: number };
  image?: { width: number; height: number };
  mask?: { width: number; height: number; channels: number };
}

async function validate(operation: 'generations' | 'imageToImage' | 'inpaint', fields: Record<string, unknown>): Promise<ValidCall> {
  const allowed = operation === 'generations' ? generationFields : new Set([...transformFields, 'image_url', ...(operation === 'inpaint' ? ['mask_url'] : ['strength'])]);
  for (const field of Object.keys(fields)) if (!allowed.has(field)) throw invalid(`unknown field "${field}"`);
  const modelName = fields['model'] ?? defaultModel;
  const rules = typeof modelName === 'string' ? models[modelName] : undefined;
  if (rules === undefined) throw invalid(`invalid model: ${String(modelName)}`);

  // prompt is required (GenerateImageRequestBase.required) and bounded per model (docs/appendix).
  const prompt = fields['prompt'];
  if (typeof prompt !== 'string' || prompt.trim() === '') throw invalid('prompt is required');
  if (prompt.length > promptLimit[rules.family]) throw invalid(`prompt is too long: maximum length is ${promptLimit[rules.family]} characters for ${String(modelName)}`);
  // "The number of images to generate, must be between 1 and 6" (docs/endpoints).
  const n = fields['n'] ?? 1;
  if (!Number.isInteger(n) || (n as number) < 1 || (n as number) > 6) throw invalid('n must be between 1 and 6');
  const responseFormat = fields['response_format'] ?? 'url';
  if (responseFormat !== 'url' && responseFormat !== 'b64_json') throw invalid('response_format must be url or b64_json');
  const imageFormat = fields['image_format'] ?? 'png';
  if (imageFormat !== 'png' && imageFormat !== 'webp') throw invalid('image_format must be webp or png');

  const style = fields['style'];
  const familyStyles: readonly string[] = styles[rules.family];
  if (style !== undefined) {
    if (rules.family === 'v4') throw invalid('style is not supported for V4 models');
    if (typeof style !== 'string' || !familyStyles.includes(style)) throw invalid(`style ${String(style)} is not supported by ${String(modelName)}`);
    // A `_vector` model draws vectors: a raster style contradicts it.
    if (rules.vector && !vectorStyles.includes(style)) throw invalid(`style ${style} is a raster style; ${String(modelName)} generates vector images`);
  }
  const substyle = fields['substyle'];
  if (substyle !== undefined) {
    if (rules.family === 'v4' || typeof style !== 'string') throw invalid('substyle can be specified only with style');
    if (!(substyles[rules.family][style] ?? []).includes(String(substyle))) throw invalid(`substyle ${String(substyle)} is not available for ${String(modelName)} with style ${style}`);
  }
  if (fields['style_id'] !== undefined && style !== undefined) throw invalid('style_id and style are mutually exclusive');
  // "style and negative_prompt work only with V3 models" (docs/tools/image-to-image).
  if (fields['negative_prompt'] !== undefined && rules.family !== 'v3') throw invalid('negative_prompt is supported by V3 models only');
  if (fields['controls'] !== undefined) checkControls(fields['controls']);
  if (fields['random_seed'] !== undefined && (!Number.isInteger(fields['random_seed']) || (fields['random_seed'] as number) < 0 || (fields['random_seed'] as number) > 0xffffffff)) {
    throw invalid('random_seed must be a uint32');
  }
  const svg = rules.vector || (typeof style === 'string' && vectorStyles.includes(style));

  if (operation === 'generations') {
    const table: Record<string, string> = sizes[rules.family === 'v4' ? 'v4' : 'v3'];
    const sizeText = fields['size'] ?? '1:1';
    // A size is either one of the family's WxH values or one of its aspects (docs/appendix).
    const resolved = typeof sizeText === 'string' ? (table[sizeText] ?? (Object.values(table).includes(sizeText) ? sizeText : undefined)) : undefined;
    if (resolved === undefined) throw invalid(`size ${String(sizeText)} is not supported by ${String(modelName)}`);
    const [width, height] = resolved.split('x').map(Number) as [number, number];
    return { fields, rules, n: n as number, responseFormat, svg, imageFormat, output: { width, height } };
  }

  const image = await inputImage(fields['image_url'], 'image_url');
  const call: ValidCall = { fields, rules, n: n as number, responseFormat, svg, imageFormat, output: image, image };
  if (operation === 'imageToImage') {
    // ImageToImageRequest.required: strength; "[0, 1], where 0 means almost identical" (docs/endpoints).
    const strength = fields['strength'];
    if (typeof strength !== 'number' || strength < 0 || strength > 1) throw invalid('strength is required and must be between 0 and 1');
  } else {
    const mask = await inputImage(fields['mask_url'], 'mask_url');
    if (mask.width !== image.width || mask.height !== image.height) throw invalid('mask must have the same size as the image');
    call.mask = mask;
  }
  return call;
}

/**
 * Input images: "PNG, JPG, WEBP, or SVG, under 10 MB, up to 16 MP, with sides between 256 and 4096 px"
 * (docs/tools/image-to-image). This fake decodes data URLs only; Recraft also fetches http(s) URLs.
 */
async function inputImage(value: unknown, field: string): Promise<{ width: number; height: number; channels: number }> {
  const bytes = value instanceof Buffer ? value : typeof value === 'string' ? /^data:image\/[a-z+]+;base64,(.*)$/s.exec(value)?.[1] : undefined;
  if (bytes === undefined) throw invalid(`${field} is required (a URL or data URL of the image)`);
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'base64') : bytes;
  if (data.length >= 10 * 1024 * 1024) throw invalid(`${field}: the image must be under 10 MB`);
  let meta: sharp.Metadata;
  try {
    meta = await sharp(data).metadata();
  } catch {
    throw invalid(`${field}: the image cannot be decoded`);
  }
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  if (!['png', 'jpeg', 'webp', 'svg'].includes(meta.format ?? '')) throw invalid(`${field}: the image must be PNG, JPG, WEBP or SVG`);
  if (width * height > 16 * 1024 * 1024 || Math.min(width, height) < 256 || Math.max(width, height) > 4096) {
    throw invalid(`${field}: the image must be up to 16 MP with sides between 256 and 4096 px`);
  }
  return { width, height, channels: meta.channels ?? 3 };
}

/** UserControls (OpenAPI): colors and background_color are ImageColor {rgb, std, weight}; no_text; artistic_level. */
function checkControls(value: unknown): void {
  if (!isRecord(value)) throw invalid('controls must be an object');
  const isColor = (color: unknown) => isRecord(color) && Array.isArray(color['rgb']) && color['rgb'].length === 3 && color['rgb'].every((c) => Number.isInteger(c) && c >= 0 && c <= 255);
  for (const [key, item] of Object.entries(value)) {
    if (key === 'colors' && Array.isArray(item) && item.every(isColor)) continue;
    if (key === 'background_color' && isColor(item)) continue;
    if (key === 'no_text' && typeof item === 'boolean') continue;
    if (key === 'artistic_level' && Number.isInteger(item)) continue;
    throw invalid(`invalid controls.${key}`);
  }
}

async function readFields(request: RecordedRequest, contentType: string): Promise<Record<string, unknown>> {
  if (contentType.includes('application/json')) {
    if (!isRecord(request.json)) throw invalid('the body must be a JSON object');
    return request.json;
  }
  if (contentType.includes('multipart/form-data')) {
    // Multipart fields are text, files stand for the JSON form's *_url fields (TransformImageRequest).
    const form = await new Response(request.body, { headers: { 'content-type': contentType } }).formData();
    const fields: Record<string, unknown> = {};
    for (const [name, value] of form.entries()) {
      if (typeof value === 'string') fields[name] = /^(n|random_seed|strength)$/.test(name) ? Number(value) : name === 'controls' || name === 'text_layout' ? JSON.parse(value) : value;
      else fields[name === 'image' || name === 'mask' ? `${name}_url` : name] = Buffer.from(await value.arrayBuffer());
    }
    return fields;
  }
  throw new Rejected(415, 'unsupported_media_type', 'the body must be JSON or multipart/form-data');
}

/** A small, plain vector picture: the kind of document Recraft's vector models return (paths, no script). */
function vectorPicture(width: number, height: number, seed: number): string {
  const hue = (seed * 53) % 360;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="${width}" height="${height}" fill="hsl(${hue},60%,85%)"/>` +
    `<circle cx="${width / 2}" cy="${height / 2}" r="${Math.min(width, height) / 3}" fill="hsl(${(hue + 180) % 360},60%,45%)"/>` +
    `<path d="M0 ${height} L${width / 2} ${height / 3} L${width} ${height} Z" fill="hsl(${(hue + 90) % 360},50%,35%)"/></svg>`;
}

function sendText(response: ServerResponse, status: number, text: string): void {
  sendBytes(response, status, Buffer.from(text), 'text/plain; charset=utf-8');
}

export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<RecraftFake> {
  return startRecraftFake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { token: argv.apiKey }) });
}
