// Turns a JSON edit body into request fields plus raw image inputs: image URLs are fetched through
// the user-URL client, data: URLs decoded. (Multipart bodies: multipart-body.ts.)

import { describeDataUrlProblem, parseBase64DataUrl } from '../core/data-url.js';
import { GatewayError } from '../core/errors.js';
import type { RawImageRequest } from '../core/image-request.js';
import type { RawImageInput } from '../core/image-inputs.js';
import type { HttpClient } from '../core/ports/http-client.js';
import { HttpClientError } from '../core/ports/http-client.js';

export interface ParsedImageBody {
  fields: RawImageRequest;
  images: RawImageInput[];
  mask: RawImageInput | undefined;
}

interface ImageReference {
  url: string;
  field: string;
}

/** JSON edits: `images: [{image_url}]` (OpenAI), or `image`/`images` as URL strings (relay clients). */
function collectReferences(body: RawImageRequest): { images: ImageReference[]; mask?: ImageReference } {
  const images: ImageReference[] = [];
  const toReference = (value: unknown, field: string): ImageReference => {
    if (typeof value === 'string') return { url: value, field };
    if (value && typeof value === 'object') {
      const ref = value as Record<string, unknown>;
      if (typeof ref.image_url === 'string') return { url: ref.image_url, field };
      if (ref.image_url && typeof ref.image_url === 'object' && typeof (ref.image_url as { url?: unknown }).url === 'string') {
        return { url: (ref.image_url as { url: string }).url, field };
      }
      if (typeof ref.file_id === 'string') {
        throw new GatewayError('invalid_value', "file_id references are not supported by this gateway; send 'image_url' with an https or data: URL.", { param: field });
      }
    }
    throw new GatewayError('invalid_value', `'${field}' must be an image URL, a data: URL, or {"image_url": "..."}.`, { param: field });
  };
  for (const field of ['images', 'image']) {
    const value = body[field];
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) images.push(toReference(item, field));
  }
  const mask = body.mask === undefined || body.mask === null ? undefined : toReference(body.mask, 'mask');
  return { images, mask };
}

function decodeDataUrl(url: string, field: string): Buffer {
  const parsed = parseBase64DataUrl(url);
  if (!parsed.ok) throw new GatewayError('invalid_image_url', `'${field}' ${describeDataUrlProblem(parsed.problem)}.`, { param: field });
  return parsed.data;
}

export async function fetchImageReferences(body: RawImageRequest, http: HttpClient, maxBytes: number, signal: AbortSignal): Promise<ParsedImageBody> {
  const references = collectReferences(body);
  const load = async (reference: ImageReference): Promise<RawImageInput> => {
    if (reference.url.startsWith('data:')) return { data: decodeDataUrl(reference.url, reference.field), field: reference.field };
    if (!/^https?:\/\//i.test(reference.url)) {
      throw new GatewayError('invalid_image_url', `'${reference.field}' must be an http(s) URL or a data: URL.`, { param: reference.field });
    }
    try {
      const response = await http.request(reference.url, { signal, maxBytes, timeoutMs: 30_000 });
      if (response.status < 200 || response.status >= 300) {
        throw new GatewayError('failed_to_download_image', `Downloading the image in '${reference.field}' failed with HTTP ${response.status}.`, { param: reference.field });
      }
      return { data: response.body, field: reference.field };
    } catch (error) {
      if (error instanceof GatewayError) throw error;
      if (error instanceof HttpClientError) {
        const reasons: Record<string, string> = {
          blocked_address: 'it points at an address the gateway may not reach',
          invalid_url: 'it is not a valid URL',
          too_large: `it is larger than ${Math.round(maxBytes / 1024 / 1024)} MB`,
          timeout: 'the download timed out',
        };
        const code = error.reason === 'too_large' ? 'image_too_large' : error.reason === 'blocked_address' || error.reason === 'invalid_url' ? 'invalid_image_url' : 'failed_to_download_image';
        throw new GatewayError(code, `Could not use the image in '${reference.field}': ${reasons[error.reason] ?? 'the download failed'}.`, { param: reference.field });
      }
      throw new GatewayError('failed_to_download_image', `Could not download the image in '${reference.field}'.`, { param: reference.field });
    }
  };
  const images = await Promise.all(references.images.map(load));
  const mask = references.mask ? await load(references.mask) : undefined;
  const fields = { ...body };
  delete fields.images;
  delete fields.image;
  delete fields.mask;
  return { fields, images, mask };
}
