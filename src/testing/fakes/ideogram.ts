// A local fake of Ideogram's 3.0 API: POST /v1/ideogram-v3/{generate,edit,remix,reframe,replace-background},
// multipart in, JSON with expiring image URLs out, and the image URLs themselves.
//
// Every rule below is taken from Ideogram's OpenAPI file (https://api.ideogram.ai/openapi.json, the
// file behind https://developer.ideogram.ai/api-reference; copy read: tryAGI/Ideogram
// src/libs/Ideogram/openapi.json @796aa9f, fetched from that URL by its generate.sh, June 2026), quoted
// beside the rule as `OpenAPI: …`. Where Ideogram documents nothing (error bodies other than 422, the
// out-of-credit answer, which resolution an aspect ratio renders at, what an expired URL answers), the
// fake's choice is marked ASSUMED. Ideogram publishes no JavaScript SDK; its reference's TypeScript
// example is plain `fetch` with a FormData body and the `Api-Key` header, which the fake's test uses.

import { createHmac, randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import sharp from 'sharp';
import { createImageCache, delay, firstHeaderValue, makeTestImage, resultExpired, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches } from './shared.js';

export interface IdeogramFakeSwitches extends FakeSwitches {
  /** This many of the returned images fail the output safety check (`is_image_safe: false`, no url). */
  unsafeImages?: number;
}

export interface IdeogramFakeOptions {
  port?: number;
  /** The key the fake accepts in the `Api-Key` header. */
  apiKey?: string;
  switches?: IdeogramFakeSwitches;
}

/** A file part as received: its media type, byte size and decoded dimensions. */
export interface IdeogramFilePart {
  type: string;
  size: number;
  width: number;
  height: number;
  /** Greyscale means of the left and right halves (masks: which side is black, i.e. to be edited). */
  leftMean: number;
  rightMean: number;
}

/** One well-formed, authorised request, with its multipart parts decoded. */
export interface IdeogramSubmission {
  endpoint: IdeogramEndpoint;
  /** Text fields; a field sent more than once (`style_codes`) keeps every value. */
  fields: Record<string, string | string[]>;
  files: Record<string, IdeogramFilePart[]>;
}

export interface IdeogramFake extends FakeServer {
  switches: IdeogramFakeSwitches;
  submissions: IdeogramSubmission[];
  /** Image URL fetches, counted by the fake. */
  readonly imageFetches: number;
}

export type IdeogramEndpoint = 'generate' | 'edit' | 'remix' | 'reframe' | 'replace-background';

export const ideogramFakeDefaultApiKey = 'ideogram-fake-key-0b5d';

/** OpenAPI `ResolutionV3`: "The resolutions supported for Ideogram 3.0." */
const resolutions = [
  '512x1536', '576x1408', '576x1472', '576x1536', '640x1344', '640x1408', '640x1472', '640x1536', '704x1152', '704x1216', '704x1280',
  '704x1344', '704x1408', '704x1472', '736x1312', '768x1088', '768x1216', '768x1280', '768x1344', '800x1280', '832x960', '832x1024',
  '832x1088', '832x1152', '832x1216', '832x1248', '864x1152', '896x960', '896x1024', '896x1088', '896x1120', '896x1152', '960x832',
  '960x896', '960x1024', '960x1088', '1024x832', '1024x896', '1024x960', '1024x1024', '1088x768', '1088x832', '1088x896', '1088x960',
  '1120x896', '1152x704', '1152x832', '1152x864', '1152x896', '1216x704', '1216x768', '1216x832', '1248x832', '1280x704', '1280x768',
  '1280x800', '1312x736', '1344x640', '1344x704', '1344x768', '1408x576', '1408x640', '1408x704', '1472x576', '1472x640', '1472x704',
  '1536x512', '1536x576', '1536x640',
];
/** OpenAPI `AspectRatioV3`: enum 1x3 … 1x1; "Cannot be used in conjunction with resolution. Defaults to 1x1." */
const aspectRatios = ['1x3', '3x1', '1x2', '2x1', '9x16', '16x9', '10x16', '16x10', '2x3', '3x2', '3x4', '4x3', '4x5', '5x4', '1x1'];
/** OpenAPI `RenderingSpeed`: enum FLASH, TURBO, BALANCED, DEFAULT, QUALITY; default DEFAULT. */
const renderingSpeeds = ['FLASH', 'TURBO', 'BALANCED', 'DEFAULT', 'QUALITY'];
/** OpenAPI `MagicPromptOption`: enum AUTO, ON, OFF. */
const magicPromptOptions = ['AUTO', 'ON', 'OFF'];
/** OpenAPI `StyleTypeV3`: enum AUTO, GENERAL, REALISTIC, DESIGN, CUSTOM, FICTION, STYLIZED; default GENERAL. */
const styleTypes = ['AUTO', 'GENERAL', 'REALISTIC', 'DESIGN', 'CUSTOM', 'FICTION', 'STYLIZED'];
/** OpenAPI `StylePresetV3` (62 names). */
const stylePresets = [
  '80S_ILLUSTRATION', '90S_NOSTALGIA', 'ABSTRACT_ORGANIC', 'ANALOG_NOSTALGIA', 'ART_BRUT', 'ART_DECO', 'ART_POSTER', 'AURA', 'AVANT_GARDE',
  'BAUHAUS', 'BLUEPRINT', 'BLURRY_MOTION', 'BRIGHT_ART', 'C4D_CARTOON', 'CHILDRENS_BOOK', 'COLLAGE', 'COLORING_BOOK_I', 'COLORING_BOOK_II',
  'CUBISM', 'DARK_AURA', 'DOODLE', 'DOUBLE_EXPOSURE', 'DRAMATIC_CINEMA', 'EDITORIAL', 'EMOTIONAL_MINIMAL', 'ETHEREAL_PARTY', 'EXPIRED_FILM',
  'FLAT_ART', 'FLAT_VECTOR', 'FOREST_REVERIE', 'GEO_MINIMALIST', 'GLASS_PRISM', 'GOLDEN_HOUR', 'GRAFFITI_I', 'GRAFFITI_II', 'HALFTONE_PRINT',
  'HIGH_CONTRAST', 'HIPPIE_ERA', 'ICONIC', 'JAPANDI_FUSION', 'JAZZY', 'LONG_EXPOSURE', 'MAGAZINE_EDITORIAL', 'MINIMAL_ILLUSTRATION',
  'MIXED_MEDIA', 'MONOCHROME', 'NIGHTLIFE', 'OIL_PAINTING', 'OLD_CARTOONS', 'PAINT_GESTURE', 'POP_ART', 'RETRO_ETCHING', 'RIVIERA_POP',
  'SPOTLIGHT_80S', 'STYLIZED_RED', 'SURREAL_COLLAGE', 'TRAVEL_POSTER', 'VINTAGE_GEO', 'VINTAGE_POSTER', 'WATERCOLOR', 'WEIRD', 'WOODBLOCK_PRINT',
];
/** OpenAPI `ColorPalettePresetName`. */
const colorPalettePresets = ['EMBER', 'FRESH', 'JUNGLE', 'MAGIC', 'MELON', 'MOSAIC', 'PASTEL', 'ULTRAMARINE'];

/**
 * Per endpoint, from each request schema: the required fields ("required: [...]") and which fields it
 * has at all. Fields outside a schema are ignored (ASSUMED: the reference does not say they are refused).
 */
const schemas: Record<IdeogramEndpoint, { required: string[]; sizeFields: 'both' | 'resolution' | 'none'; prompt: boolean }> = {
  // GenerateImageRequestV3: required [prompt]; resolution, aspect_ratio.
  generate: { required: ['prompt'], sizeFields: 'both', prompt: true },
  // EditImageRequestV3: required [image, mask, prompt]; no size fields.
  edit: { required: ['image', 'mask', 'prompt'], sizeFields: 'none', prompt: true },
  // RemixImageRequestV3: required [image, prompt]; resolution, aspect_ratio, image_weight.
  remix: { required: ['image', 'prompt'], sizeFields: 'both', prompt: true },
  // ReframeImageRequestV3: required [image, resolution]; no prompt field.
  reframe: { required: ['image', 'resolution'], sizeFields: 'resolution', prompt: false },
  // ReplaceBackgroundRequestV3: required [image, prompt]; no size fields.
  'replace-background': { required: ['image', 'prompt'], sizeFields: 'none', prompt: true },
};

/** "max size 10MB" for each input image; style references "maximum total size 10MB". */
const maxImageBytes = 10 * 1024 * 1024;
/** Ephemeral links: ASSUMED one hour unless the resultUrlTtlMs switch says otherwise (Ideogram only says "a limited period"). */
const defaultResultUrlTtlMs = 60 * 60 * 1000;

interface IssuedImage {
  width: number;
  height: number;
  issuedAt: number;
  index: number;
}

export async function startIdeogramFake(options: IdeogramFakeOptions = {}): Promise<IdeogramFake> {
  const apiKey = options.apiKey ?? ideogramFakeDefaultApiKey;
  const switches: IdeogramFakeSwitches = { ...options.switches };
  const submissions: IdeogramSubmission[] = [];
  const issued = new Map<string, IssuedImage>();
  const imageBytes = createImageCache();
  const signingKey = randomUUID();
  let imagesMade = 0;
  let imageFetches = 0;
  let base = '';

  const server = await startFakeServer(async (request, response, raw) => {
    if (switches.latencyMs !== undefined && switches.latencyMs > 0) await delay(switches.latencyMs);
    const url = new URL(request.path, 'http://fake.invalid');

    // The image links: https://ideogram.ai/api/images/ephemeral/<id>.png?exp=<epoch>&sig=<hex> (OpenAPI example url).
    const imageMatch = /^\/api\/images\/ephemeral\/([A-Za-z0-9-]+)\.png$/.exec(url.pathname);
    if (request.method === 'GET' && imageMatch) {
      const id = imageMatch[1] ?? '';
      const image = issued.get(id);
      const exp = url.searchParams.get('exp') ?? '';
      if (image === undefined || url.searchParams.get('sig') !== sign(signingKey, id, exp)) {
        sendJson(response, 404, { error: 'Not found' });
        return;
      }
      // ASSUMED: an expired link answers 403 (the signed exp/sig query suggests a signature check).
      if (resultExpired(image.issuedAt, switches.resultUrlTtlMs ?? defaultResultUrlTtlMs)) {
        sendJson(response, 403, { error: 'This link has expired' });
        return;
      }
      imageFetches += 1;
      sendBytes(response, 200, await imageBytes(id, () => makeTestImage(image.width, image.height, 'png', image.index)), 'image/png');
      return;
    }

    const endpointMatch = /^\/v1\/ideogram-v3\/(generate|edit|remix|reframe|replace-background)$/.exec(url.pathname);
    if (request.method !== 'POST' || !endpointMatch) {
      sendJson(response, 404, { error: 'Not found' });
      return;
    }
    const endpoint = endpointMatch[1] as IdeogramEndpoint;
    if (switches.hang) {
      await new Promise<void>((resolve) => raw.socket?.once('close', () => resolve()));
      return;
    }
    // OpenAPI securitySchemes.ApiKeyAuth: "Use in the header with the name \"Api-Key\""; 401 "Not authorized
    // to generate an image." (403 on remix). The body is ASSUMED.
    if (firstHeaderValue(request.headers['api-key']) !== apiKey) {
      sendJson(response, endpoint === 'remix' ? 403 : 401, { error: 'Not authorized to generate an image.' });
      return;
    }
    const contentType = firstHeaderValue(request.headers['content-type']) ?? '';
    if (!contentType.startsWith('multipart/form-data')) {
      // The v3 endpoints document multipart/form-data (generate also lists application/json; not modelled).
      sendError(response, 400, 'Invalid input provided: expected multipart/form-data.');
      return;
    }
    let submission: IdeogramSubmission;
    try {
      submission = await readForm(endpoint, request.body, contentType);
    } catch (error) {
      sendError(response, 400, `Invalid input provided: ${(error as Error).message}`);
      return;
    }
    const problems = validate(submission);
    if (problems.length > 0) {
      sendError(response, 400, `Invalid input provided: ${problems.join('; ')}`);
      return;
    }
    submissions.push(submission);

    if (switches.outOfFunds) {
      // ASSUMED: Ideogram's OpenAPI documents no out-of-credit answer; rendered as HTTP 402.
      sendError(response, 402, 'Insufficient credits: add credits or turn on auto top-up in the API dashboard.');
      return;
    }
    if (switches.failStatus !== undefined) {
      const headers: Record<string, string> = {};
      if (switches.failStatus === 429 && switches.retryAfterSeconds !== undefined) headers['retry-after'] = String(switches.retryAfterSeconds);
      sendError(response, switches.failStatus, switches.failStatus === 429 ? 'Too many requests.' : 'Internal server error.', headers);
      return;
    }
    if (switches.moderation === 'input') {
      // OpenAPI 422 "Prompt failed the safety check.", GenerateImageSafetyError example body.
      sendJson(response, 422, { error: 'Prompt provided failed safety check due to the inclusion of prohibited content.' });
      return;
    }

    const count = Math.min(Number(single(submission.fields['num_images']) ?? '1'), switches.maxImages ?? Number.POSITIVE_INFINITY);
    const [width, height] = outputSize(submission);
    const unsafe = switches.moderation === 'output' ? count : Math.min(switches.unsafeImages ?? 0, count);
    const seedText = single(submission.fields['seed']);
    const prompt = single(submission.fields['prompt']) ?? '';
    const magic = (single(submission.fields['magic_prompt']) ?? 'AUTO') !== 'OFF';
    const now = Date.now();
    const exp = String(Math.floor((now + (switches.resultUrlTtlMs ?? defaultResultUrlTtlMs)) / 1000));
    const data = Array.from({ length: count }, (_, index) => {
      imagesMade += 1;
      const id = randomUUID();
      const safe = index >= unsafe;
      if (safe) issued.set(id, { width, height, issuedAt: now, index: imagesMade });
      return {
        // "If false, the url field will be empty."
        url: safe ? `${base}/api/images/ephemeral/${id}.png?exp=${exp}&sig=${sign(signingKey, id, exp)}` : null,
        // "The prompt used for the generation. This may be different from the original prompt." (MagicPrompt)
        prompt: magic && prompt !== '' ? `${prompt}, rendered in crisp detail` : prompt,
        resolution: `${width}x${height}`,
        is_image_safe: safe,
        seed: seedText !== undefined ? Number(seedText) : Math.floor(Math.random() * 2_147_483_647),
        style_type: single(submission.fields['style_type']) ?? 'GENERAL',
      };
    });
    const body = JSON.stringify({ created: new Date(now).toISOString(), data });
    const payload = switches.malformed ? body.slice(0, Math.floor(body.length / 2)) : body;
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    response.end(payload);
  }, options.port);
  base = server.url;

  // A getter, not Object.assign (which would copy today's count once), so tests read the live number.
  return Object.defineProperties(Object.assign(server, { switches, submissions }), {
    imageFetches: { get: () => imageFetches, enumerable: true },
  }) as IdeogramFake;
}

/** `npm run fake -- ideogram --port N` entry. */
export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<FakeServer> {
  return startIdeogramFake({ port: argv.port, ...(argv.apiKey === undefined ? {} : { apiKey: argv.apiKey }), switches: argv.switches });
}

async function readForm(endpoint: IdeogramEndpoint, body: Buffer, contentType: string): Promise<IdeogramSubmission> {
  const form = await new Response(body, { headers: { 'content-type': contentType } }).formData().catch(() => {
    throw new Error('could not parse multipart/form-data');
  });
  const fields: IdeogramSubmission['fields'] = {};
  const files: IdeogramSubmission['files'] = {};
  for (const [name, value] of form.entries()) {
    if (typeof value === 'string') {
      const previous = fields[name];
      fields[name] = previous === undefined ? value : [...(Array.isArray(previous) ? previous : [previous]), value];
      continue;
    }
    const bytes = Buffer.from(await value.arrayBuffer());
    if (bytes.length > maxImageBytes) throw new Error(`${name}: max size 10MB`);
    let metadata: sharp.Metadata;
    try {
      metadata = await sharp(bytes).metadata();
    } catch {
      throw new Error(`${name}: could not be decoded as an image`);
    }
    // "only JPEG, WebP and PNG formats are supported at this time."
    if (!['jpeg', 'png', 'webp'].includes(metadata.format ?? '')) throw new Error(`${name}: only JPEG, WebP and PNG formats are supported`);
    const width = metadata.width ?? 0;
    const height = metadata.height ?? 0;
    const half = Math.max(1, Math.floor(width / 2));
    // Rendered to raw greyscale first: sharp's stats() reads the input, not the extracted region.
    const mean = async (left: number, w: number) => {
      const pixels = await sharp(bytes).extract({ left, top: 0, width: w, height }).greyscale().raw().toBuffer();
      return pixels.reduce((total, value) => total + value, 0) / Math.max(1, pixels.length);
    };
    const part: IdeogramFilePart = { type: value.type, size: bytes.length, width, height, leftMean: await mean(0, half), rightMean: width > 1 ? await mean(half, width - half) : 0 };
    (files[name] ??= []).push(part);
  }
  return { endpoint, fields, files };
}

function validate(submission: IdeogramSubmission): string[] {
  const { endpoint, fields, files } = submission;
  const schema = schemas[endpoint];
  const problems: string[] = [];
  for (const name of schema.required) {
    const present = name === 'image' || name === 'mask' ? files[name] !== undefined : single(fields[name]) !== undefined;
    if (!present) problems.push(`${name}: required`);
  }
  const prompt = single(fields['prompt']);
  if (schema.prompt && prompt !== undefined && prompt.trim() === '') problems.push('prompt: must not be empty');
  const resolution = single(fields['resolution']);
  const aspectRatio = single(fields['aspect_ratio']);
  if (resolution !== undefined && !resolutions.includes(resolution)) problems.push(`resolution: ${JSON.stringify(resolution)} is not a supported resolution`);
  if (aspectRatio !== undefined) {
    if (schema.sizeFields !== 'both') problems.push(`aspect_ratio: not accepted by ${endpoint}`);
    else if (!aspectRatios.includes(aspectRatio)) problems.push(`aspect_ratio: must be one of ${aspectRatios.join(', ')}`);
  }
  if (resolution !== undefined && schema.sizeFields === 'none') problems.push(`resolution: not accepted by ${endpoint}`);
  // AspectRatioV3: "Cannot be used in conjunction with resolution."
  if (resolution !== undefined && aspectRatio !== undefined) problems.push('aspect_ratio: cannot be used in conjunction with resolution');
  enumField(problems, fields, 'rendering_speed', renderingSpeeds);
  enumField(problems, fields, 'magic_prompt', magicPromptOptions);
  enumField(problems, fields, 'style_type', styleTypes);
  enumField(problems, fields, 'style_preset', stylePresets);
  // NumImages: minimum 1, maximum 8. Seed: minimum 0, maximum 2147483647. image_weight: minimum 1, maximum 100.
  integerField(problems, fields, 'num_images', 1, 8);
  integerField(problems, fields, 'seed', 0, 2_147_483_647);
  integerField(problems, fields, 'image_weight', 1, 100);
  // StyleCode: pattern ^[0-9a-fA-F]{8}$; StyleCodes "Cannot be used in conjunction with style_reference_images or style_type."
  const styleCodes = fields['style_codes'];
  if (styleCodes !== undefined) {
    if (!(Array.isArray(styleCodes) ? styleCodes : [styleCodes]).every((code) => /^[0-9a-fA-F]{8}$/.test(code))) problems.push('style_codes: each must be 8 hexadecimal characters');
    if (fields['style_type'] !== undefined || files['style_reference_images'] !== undefined) problems.push('style_codes: cannot be used in conjunction with style_reference_images or style_type');
  }
  const palette = single(fields['color_palette']);
  if (palette !== undefined) {
    const problem = colorPaletteProblem(palette);
    if (problem !== undefined) problems.push(`color_palette: ${problem}`);
  }
  const references = files['style_reference_images'] ?? [];
  if (references.reduce((total, part) => total + part.size, 0) > maxImageBytes) problems.push('style_reference_images: maximum total size 10MB');
  // The mask: "A black and white image of the same size as the image being edited".
  const image = files['image']?.[0];
  const mask = files['mask']?.[0];
  if (endpoint === 'edit' && image !== undefined && mask !== undefined && (image.width !== mask.width || image.height !== mask.height)) {
    problems.push(`mask: must be the same size as the image (${image.width}x${image.height}), got ${mask.width}x${mask.height}`);
  }
  return problems;
}

/** ColorPaletteWithPresetNameOrMembers: `{name}` from the presets, or `{members: [{color_hex, color_weight?}]}` (1–8, weight 0.05–1.0). */
function colorPaletteProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'must be a JSON object';
  }
  if (typeof value !== 'object' || value === null) return 'must be a JSON object';
  const record = value as Record<string, unknown>;
  if ('name' in record && 'members' in record) return 'either a preset name or members, not both';
  if ('name' in record) return colorPalettePresets.includes(String(record['name'])) ? undefined : `name must be one of ${colorPalettePresets.join(', ')}`;
  const members = record['members'];
  if (!Array.isArray(members) || members.length < 1 || members.length > 8) return 'members must list 1 to 8 colors';
  for (const member of members as Array<Record<string, unknown>>) {
    if (typeof member?.['color_hex'] !== 'string' || !/^#(?:[0-9a-fA-F]{3}){1,2}$/.test(member['color_hex'])) return 'color_hex must look like #RRGGBB';
    const weight = member['color_weight'];
    if (weight !== undefined && (typeof weight !== 'number' || weight < 0.05 || weight > 1)) return 'color_weight must be between 0.05 and 1.0';
  }
  return undefined;
}

/**
 * The size of what is made: the resolution when given; the input's size for edit and
 * replace-background (ASSUMED: they repaint within the image); otherwise the listed resolution of the
 * ratio nearest one megapixel (ASSUMED: Ideogram does not say which resolution each aspect ratio renders at).
 */
function outputSize(submission: IdeogramSubmission): [number, number] {
  const resolution = single(submission.fields['resolution']);
  if (resolution !== undefined) return resolution.split('x').map(Number) as [number, number];
  const image = submission.files['image']?.[0];
  if ((submission.endpoint === 'edit' || submission.endpoint === 'replace-background') && image !== undefined) return [image.width, image.height];
  const [w, h] = (single(submission.fields['aspect_ratio']) ?? '1x1').split('x').map(Number) as [number, number];
  const sameShape = resolutions.map((text) => text.split('x').map(Number) as [number, number]).filter(([rw, rh]) => Math.abs(Math.log(rw / rh) - Math.log(w / h)) < 0.02);
  sameShape.sort((a, b) => Math.abs(a[0] * a[1] - 1024 * 1024) - Math.abs(b[0] * b[1] - 1024 * 1024));
  return sameShape[0] ?? [1024, 1024];
}

function enumField(problems: string[], fields: IdeogramSubmission['fields'], name: string, allowed: string[]): void {
  const value = single(fields[name]);
  if (value !== undefined && !allowed.includes(value)) problems.push(`${name}: must be one of ${allowed.join(', ')}`);
}

function integerField(problems: string[], fields: IdeogramSubmission['fields'], name: string, min: number, max: number): void {
  const value = single(fields[name]);
  if (value !== undefined && (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)) problems.push(`${name}: must be an integer from ${min} to ${max}`);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

function sign(key: string, id: string, exp: string): string {
  return createHmac('sha256', key).update(`${id}:${exp}`).digest('hex');
}

/** ASSUMED body for the statuses the OpenAPI file gives no schema (400, 402, 429, 5xx): `{"error": "…"}` like its 422. */
function sendError(response: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(response, status, { error: message }, headers);
}
