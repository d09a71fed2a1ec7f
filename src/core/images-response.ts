// Renders a generation outcome as OpenAI's ImagesResponse body.

import type { DeliveredImage, GenerationOutcome } from './generate-images.js';
import type { ImageRequest } from './image-request.js';
import { formatSize } from './sizes.js';

export interface ImagesResponseBody {
  created: number;
  data: Array<{ url?: string; b64_json?: string; revised_prompt?: string }>;
  background?: 'transparent' | 'opaque';
  output_format?: string;
  quality?: string;
  size?: string;
  usage?: {
    input_tokens: number;
    output_tokens: number;
    total_tokens: number;
    input_tokens_details: { text_tokens: number; image_tokens: number };
  };
}

type RenderedOutcome = Pick<GenerationOutcome, 'images' | 'usage' | 'createdAt'> & { quality?: string };
type RenderedRequest = Pick<ImageRequest, 'responseFormat' | 'model' | 'background' | 'outputFormat' | 'quality' | 'size'>;

/** Base64 of an image: the text it arrived as when it passes through unchanged, else its bytes encoded. */
const base64Of = (image: DeliveredImage): string => (image.base64 ? image.base64.map((piece) => piece.toString('latin1')).join('') : image.data.toString('base64'));

/** `urlFor` turns a blob key into an absolute signed URL. */
export function renderImagesResponse(outcome: RenderedOutcome, request: RenderedRequest, urlFor: (blobKey: string) => string): ImagesResponseBody {
  return buildBody(outcome, request, urlFor, base64Of);
}

/**
 * The same body as renderImagesResponse, as the bytes to send. The base64 of each image is written
 * straight into the buffer instead of through JSON.stringify, which would scan and copy megabytes
 * for nothing (base64 needs no escaping); text that arrived as base64 is copied once, never decoded.
 */
export function encodeImagesResponse(outcome: RenderedOutcome, request: RenderedRequest, urlFor: (blobKey: string) => string): Buffer {
  const parts = encodeImagesResponseParts(outcome, request, urlFor);
  return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
}

/**
 * The body of encodeImagesResponse as the pieces it is made of, in order: the JSON around the images
 * and each image's base64 as it arrived (a slice of the upstream's body, not a copy). Sent one after
 * the other they are the same bytes, so a relayed 2 MB image is never copied into a second 2 MB buffer.
 */
export function encodeImagesResponseParts(outcome: RenderedOutcome, request: RenderedRequest, urlFor: (blobKey: string) => string): Buffer[] {
  const texts: Array<readonly Buffer[] | string> = [];
  const body = buildBody(outcome, request, urlFor, (image) => {
    texts.push(image.base64 ?? image.data.toString('base64'));
    return `${markerPrefix}${texts.length - 1}`;
  });
  const json = JSON.stringify(body);
  if (texts.length === 0) return [Buffer.from(json)];
  // Each marker stands alone as a `b64_json` value, in order; inside any other string its quotes would be escaped.
  const parts: Buffer[] = [];
  let copiedUpTo = 0;
  texts.forEach((text, index) => {
    const marker = `"b64_json":${JSON.stringify(`${markerPrefix}${index}`)}`;
    const at = json.indexOf(marker, copiedUpTo);
    if (at === -1) throw new Error(`image ${index} is missing from the rendered response`);
    parts.push(Buffer.from(json.slice(copiedUpTo, at) + '"b64_json":"'), ...(typeof text === 'string' ? [Buffer.from(text, 'latin1')] : text));
    // The marker's closing quote is kept: it closes the base64 string.
    copiedUpTo = at + marker.length - 1;
  });
  parts.push(Buffer.from(json.slice(copiedUpTo)));
  return parts;
}

/**
 * The background as delivered: `auto` becomes what the images actually have (an edit of a transparent
 * input keeps its alpha), never a claim the bytes contradict.
 */
export function reportedBackground(requested: ImageRequest['background'], images: ReadonlyArray<Pick<DeliveredImage, 'hasAlpha'>>): 'transparent' | 'opaque' {
  if (requested !== 'auto') return requested;
  return images.some((image) => image.hasAlpha === true) ? 'transparent' : 'opaque';
}

/** U+0000 in a marker: a real image's base64 never holds it. */
const markerPrefix = '\u0000image:';

function buildBody(outcome: RenderedOutcome, request: RenderedRequest, urlFor: (blobKey: string) => string, base64: (image: DeliveredImage) => string): ImagesResponseBody {
  const body: ImagesResponseBody = {
    created: outcome.createdAt,
    data: outcome.images.map((image) => {
      const item: { url?: string; b64_json?: string; revised_prompt?: string } =
        request.responseFormat === 'url' && image.blobKey ? { url: urlFor(image.blobKey) } : { b64_json: base64(image) };
      if (image.revisedPrompt !== undefined) item.revised_prompt = image.revisedPrompt;
      return item;
    }),
  };
  // gpt-image models echo what they resolved, as OpenAI does; `auto` is reported as what it became.
  if (request.model.reports_output_details) {
    body.background = reportedBackground(request.background, outcome.images);
    body.output_format = request.outputFormat;
    const quality = outcome.quality ?? renderedQuality(request.quality);
    if (quality !== undefined) body.quality = quality;
    body.size = formatSize(request.size);
  }
  if (outcome.usage) {
    const textTokens = outcome.usage.inputTextTokens ?? outcome.usage.inputTokens;
    body.usage = {
      input_tokens: outcome.usage.inputTokens,
      output_tokens: outcome.usage.outputTokens,
      total_tokens: outcome.usage.inputTokens + outcome.usage.outputTokens,
      input_tokens_details: { text_tokens: textTokens, image_tokens: outcome.usage.inputImageTokens ?? 0 },
    };
  }
  return body;
}

/**
 * The quality to report when the upstream said nothing: `auto` is reported as `medium`, the tier an
 * engine without usage is billed at (docs/billing.md), since OpenAI's ImagesResponse.quality is one
 * of low, medium, high.
 */
export function renderedQuality(quality: string | undefined): string | undefined {
  return quality === 'auto' ? 'medium' : quality;
}
