// The OpenAI Images answer (`ImagesResponse`) as OpenAI and the upstreams that copy its shape give it,
// and the one JSON call that gets it from such an upstream (`POST <base>/images/<operation>` with a
// bearer key: recraft, xai). Each adapter keeps its own body, its error reading and its limits.

import type { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageUsage, ProviderImage, ProviderWarning } from '../../core/ports/image-model.js';
import { isRecord } from './json-answer.js';
import { imageFromBase64Text, parseJsonLifting, type LiftedJson } from './json-base64.js';
import type { HttpResponse, ProviderSettings } from './types.js';
import { invalidUpstreamResponse, requestUpstream } from './upstream-errors.js';

/** How one OpenAI-style upstream is called. */
export interface ImagesCall {
  provider: string;
  /** The whole endpoint URL, e.g. `${baseURL}/images/generations`. */
  url: string;
  body: unknown;
  /** The upstream's error body read as a GatewayError (its own codes and moderation rules). */
  errorFrom: (response: HttpResponse, model: string, secrets: string[]) => GatewayError;
  defaultTimeoutMs: number;
  maxResponseBytes: number;
  /** The response header naming the upstream's request id, if it sends one. */
  requestIdHeader?: string;
}

/** Sends one OpenAI-style images call and reads its ImagesResponse; `warnings` are the adapter's own, put first. */
export async function callImagesEndpoint(settings: ProviderSettings, options: ImageCallOptions, call: ImagesCall, warnings: ProviderWarning[]): Promise<ImageCallResult> {
  const response = await requestUpstream(settings.http, call.provider, call.url, {
    method: 'POST',
    headers: { authorization: `Bearer ${settings.apiKey}`, accept: 'application/json' },
    json: call.body,
    signal: options.abortSignal,
    timeoutMs: settings.timeoutMs ?? call.defaultTimeoutMs,
    maxBytes: call.maxResponseBytes,
  });
  if (response.status < 200 || response.status >= 300) throw call.errorFrom(response, options.model, [settings.apiKey]);
  const parsed = parseImagesResponse(call.provider, response, options.n);
  const upstreamRequestId = call.requestIdHeader === undefined ? undefined : response.headers[call.requestIdHeader];
  return { images: parsed.images, warnings: [...warnings, ...parsed.warnings], ...(upstreamRequestId === undefined ? {} : { upstreamRequestId }) };
}

export interface ParsedImages {
  images: ProviderImage[];
  warnings: ProviderWarning[];
  usage?: ImageUsage;
  /** ImagesResponse.quality: the tier gpt-image rendered (`auto` resolved). */
  quality?: string;
}

/** Reads an `ImagesResponse`: `data[].b64_json` → bytes, `data[].url` → URL, `revised_prompt` and `usage` kept. */
export function parseImagesResponse(provider: string, response: HttpResponse, requested: number): ParsedImages {
  let body: unknown;
  let lifted: LiftedJson | undefined;
  try {
    // The base64 stays in the body as it came (see json-base64.ts); only the rest becomes objects.
    lifted = parseJsonLifting(response.chunks ?? response.body, 'b64_json');
    body = lifted ? lifted.value : JSON.parse(response.body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(provider, 'the body is not JSON');
  }
  if (!isRecord(body) || !Array.isArray(body['data'])) throw invalidUpstreamResponse(provider, 'no `data` array');
  const declaredFormat = typeof body['output_format'] === 'string' ? mediaTypeOfFormat(body['output_format']) : undefined;

  const images = body['data'].slice(0, requested).map((item, index): ProviderImage => {
    if (!isRecord(item)) throw invalidUpstreamResponse(provider, `data[${index}] is not an object`);
    const revisedPrompt = typeof item['revised_prompt'] === 'string' ? { revisedPrompt: item['revised_prompt'] } : {};
    const b64 = item['b64_json'];
    const b64Text = lifted?.liftedText(b64);
    if (b64Text !== undefined && b64Text.length > 0) {
      // Sniffed from the first bytes alone; the rest is decoded only if the core needs the bytes.
      // The first 16 characters only (the text may be in many 64 KB pieces; concat copies no more than asked).
      const headLength = Math.min(16, b64Text.reduce((sum, piece) => sum + piece.length, 0));
      const head = Buffer.from(Buffer.concat(b64Text.slice(0, 16), headLength).toString('latin1'), 'base64');
      if (head.length === 0) throw invalidUpstreamResponse(provider, `data[${index}].b64_json is not base64`);
      const mediaType = sniffMediaType(head) ?? declaredFormat;
      return imageFromBase64Text(b64Text, { ...(mediaType === undefined ? {} : { mediaType }), ...revisedPrompt });
    }
    if (typeof b64 === 'string' && b64.length > 0) {
      const data = Buffer.from(b64, 'base64');
      if (data.length === 0) throw invalidUpstreamResponse(provider, `data[${index}].b64_json is not base64`);
      const mediaType = sniffMediaType(data) ?? declaredFormat;
      return { kind: 'bytes', data, ...(mediaType === undefined ? {} : { mediaType }), ...revisedPrompt };
    }
    const url = item['url'];
    if (typeof url === 'string' && /^https?:\/\//i.test(url)) return { kind: 'url', url, ...revisedPrompt };
    throw invalidUpstreamResponse(provider, `data[${index}] has neither b64_json nor an http(s) url`);
  });
  if (images.length === 0) throw invalidUpstreamResponse(provider, 'no images in `data`');

  const warnings: ProviderWarning[] = [];
  if (images.length < requested) {
    warnings.push({ type: 'other', param: 'n', message: `${provider} returned ${images.length} of the ${requested} images asked for.` });
  }
  const usage = readUsage(body['usage']);
  const quality = body['quality'];
  return { images, warnings, ...(usage === undefined ? {} : { usage }), ...(quality === 'low' || quality === 'medium' || quality === 'high' ? { quality } : {}) };
}

/** Usage is informational: a shape we do not recognise is left out rather than failing a paid call. */
export function readUsage(value: unknown): ImageUsage | undefined {
  if (!isRecord(value)) return undefined;
  const inputTokens = value['input_tokens'];
  const outputTokens = value['output_tokens'];
  if (!isCount(inputTokens) || !isCount(outputTokens)) return undefined;
  const usage: ImageUsage = { inputTokens, outputTokens };
  const details = value['input_tokens_details'];
  if (isRecord(details)) {
    if (isCount(details['text_tokens'])) usage.inputTextTokens = details['text_tokens'];
    if (isCount(details['image_tokens'])) usage.inputImageTokens = details['image_tokens'];
  }
  return usage;
}

const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 0;

function mediaTypeOfFormat(format: string): string | undefined {
  if (format === 'png' || format === 'webp' || format === 'jpeg' || format === 'gif') return `image/${format}`;
  if (format === 'jpg') return 'image/jpeg';
  return undefined;
}

function sniffMediaType(data: Buffer): string | undefined {
  if (data.length >= 8 && data.readUInt32BE(0) === 0x89504e47) return 'image/png';
  if (data.length >= 3 && data[0] === 0xff && data[1] === 0xd8 && data[2] === 0xff) return 'image/jpeg';
  if (data.length >= 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  if (data.length >= 6 && data.toString('latin1', 0, 4) === 'GIF8') return 'image/gif';
  return undefined;
}
