// A BFL request body (POST /v1/{model}) in the gateway's own fields. The rules are BFL's, from its
// API reference as summarised in shared/specs/providers/bfl.md (docs.bfl.ai, api.bfl.ai/openapi.json).

import { GatewayError } from '../../core/errors.js';
import type { RawImageRequest } from '../../core/image-request.js';
import { asImageReference } from '../shared/submit-task.js';

/** BFL endpoint names whose gateway catalogue id is spelled differently. */
const catalogIdOfEndpoint: Readonly<Record<string, string>> = {
  // "/v1/flux-pro-1.1" is FLUX1.1 [pro] (docs.bfl.ai "generate-an-image-with-flux-11-[pro]").
  'flux-pro-1.1': 'flux-1.1-pro',
  'flux-pro-1.1-ultra': 'flux-1.1-pro-ultra',
};

/** The catalogue model a BFL path names: BFL's spelling, or any gateway model id as it is. */
export function catalogIdOf(endpoint: string): string {
  return catalogIdOfEndpoint[endpoint] ?? endpoint;
}

/** Fields BFL's schemas define that the gateway maps itself; every other field goes to the provider as sent. */
const mappedFields = new Set(['prompt', 'width', 'height', 'aspect_ratio', 'seed', 'output_format', 'webhook_url', 'webhook_secret']);

/** input_image, input_image_2 … input_image_8 (FLUX.2 takes up to 8, Kontext up to 4 — "input_image_2..4 (experimental multiref)"). */
const inputImageField = /^input_image(?:_([2-8]))?$/;

export interface BflTranslation {
  fields: RawImageRequest;
  images: Array<{ url: string; field: string }>;
  webhook?: { url: string; secret?: string };
}

/** BFL answers a bad body with FastAPI's 422; the dialect's error handler renders these as its `detail` list. */
function invalid(field: string, message: string): GatewayError {
  return new GatewayError('invalid_value', message, { param: field });
}

function integerIn(body: Record<string, unknown>, field: string, min: number, max: number): void {
  const value = body[field];
  if (value === undefined || value === null) return;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(field, `'${field}' must be an integer from ${min} to ${max}; got ${JSON.stringify(value)}.`);
  }
}

function booleanField(body: Record<string, unknown>, field: string): void {
  const value = body[field];
  if (value !== undefined && value !== null && typeof value !== 'boolean') throw invalid(field, `'${field}' must be true or false.`);
}

export function translateBflBody(endpoint: string, body: Record<string, unknown>): BflTranslation {
  const prompt = body.prompt;
  // "prompt: required" on the Kontext pages; the text-to-image models take it as their main input too.
  if (typeof prompt !== 'string' || prompt.trim() === '') throw invalid('prompt', "'prompt' is required: a non-empty string.");
  // "safety_tolerance 0–6 (def 2)" (FLUX.1 pages); FLUX.2: "safety_tolerance 0–5 (def 2)".
  integerIn(body, 'safety_tolerance', 0, endpoint.startsWith('flux-2') ? 5 : 6);
  // "steps 1–50" (flux-pro, flux-dev, flux-2-flex); seed "int|null".
  integerIn(body, 'steps', 1, 50);
  integerIn(body, 'seed', 0, 4_294_967_295);
  booleanField(body, 'prompt_upsampling');
  booleanField(body, 'raw');
  const guidance = body.guidance;
  if (guidance !== undefined && guidance !== null && (typeof guidance !== 'number' || guidance < 1.5 || guidance > 10)) {
    throw invalid('guidance', "'guidance' must be a number from 1.5 to 10.");
  }
  // "output_format jpeg|png" on every model page.
  const outputFormat = body.output_format;
  if (outputFormat !== undefined && outputFormat !== null && outputFormat !== 'jpeg' && outputFormat !== 'png') {
    throw invalid('output_format', "'output_format' must be 'jpeg' or 'png'.");
  }

  const fields: RawImageRequest = { model: catalogIdOf(endpoint), prompt, n: 1, response_format: 'url' };
  const width = body.width;
  const height = body.height;
  if ((width !== undefined && width !== null) || (height !== undefined && height !== null)) {
    if (typeof width !== 'number' || typeof height !== 'number' || !Number.isInteger(width) || !Number.isInteger(height)) {
      throw invalid(typeof width === 'number' ? 'height' : 'width', "'width' and 'height' are integers and go together.");
    }
    // FLUX.2's "default 0 (=auto / match input)": no size of its own.
    if (width !== 0 || height !== 0) fields.size = `${width}x${height}`;
  }
  if (typeof body.aspect_ratio === 'string') fields.aspect_ratio = body.aspect_ratio;
  else if (body.aspect_ratio !== undefined && body.aspect_ratio !== null) throw invalid('aspect_ratio', "'aspect_ratio' is a string such as '16:9'.");
  if (typeof body.seed === 'number') fields.seed = body.seed;
  if (typeof outputFormat === 'string') fields.output_format = outputFormat;

  const images: Array<{ url: string; field: string }> = [];
  const numbered: Array<[number, string, string]> = [];
  for (const [field, value] of Object.entries(body)) {
    const match = inputImageField.exec(field);
    if (match !== null) {
      if (value === undefined || value === null) continue;
      // "input_image (base64 or URL)".
      if (typeof value !== 'string' || value === '') throw invalid(field, `'${field}' must be a base64 image or an image URL.`);
      numbered.push([Number(match[1] ?? 1), field, asImageReference(value)]);
      continue;
    }
    if (!mappedFields.has(field)) fields[field] = value;
  }
  numbered.sort((left, right) => left[0] - right[0]);
  for (const [, field, url] of numbered) images.push({ url, field });

  const translation: BflTranslation = { fields, images };
  const webhookUrl = body.webhook_url;
  if (webhookUrl !== undefined && webhookUrl !== null) {
    // "webhook_url (1–2083 chars)".
    if (typeof webhookUrl !== 'string' || webhookUrl.length < 1 || webhookUrl.length > 2083) throw invalid('webhook_url', "'webhook_url' must be a URL of 1 to 2083 characters.");
    translation.webhook = { url: webhookUrl };
    if (typeof body.webhook_secret === 'string') translation.webhook.secret = body.webhook_secret;
  }
  return translation;
}
