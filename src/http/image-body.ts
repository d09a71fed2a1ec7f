// Turns an edit/variation/generation request body (JSON or multipart as the openai SDK sends it)
// into request fields plus raw image inputs. Image URLs are fetched through the guarded client.

import type { FastifyRequest } from 'fastify';
import type {} from '@fastify/multipart';
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

/** Multipart text fields that carry numbers or booleans (the SDK sends `n=2` as the text "2"). */
const integerFields = new Set(['n', 'output_compression', 'partial_images', 'seed']);
const booleanFields = new Set(['stream', 'async']);

function convertField(name: string, value: string): unknown {
  if (integerFields.has(name) && /^-?\d+$/.test(value.trim())) return Number(value);
  if (booleanFields.has(name)) {
    if (value === 'true') return true;
    if (value === 'false') return false;
  }
  return value;
}

const imageFieldNames = new Set(['image', 'image[]', 'images', 'images[]']);

/**
 * Reads a multipart body. `maxTotalBytes` (the server's body limit) bounds the whole upload, as
 * the JSON body limit bounds a JSON request: the multipart parser does not apply that limit itself.
 */
export async function readMultipartBody(request: FastifyRequest, maxFileBytes: number, maxTotalBytes = Infinity): Promise<ParsedImageBody> {
  try {
    return await readMultipartParts(request, maxFileBytes, maxTotalBytes);
  } catch (error) {
    if (error instanceof GatewayError || isFrameworkError(error)) throw error;
    // The parser throws plain Errors for a broken body (no boundary, truncated part): the client's fault.
    const reason = error instanceof Error ? error.message : String(error);
    throw new GatewayError('invalid_value', `The multipart/form-data body could not be read: ${reason}.`, { cause: error });
  }
}

/** Errors with a Fastify code (file too large, too many parts) have their own status in toGatewayError. */
function isFrameworkError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('FST_');
}

async function readMultipartParts(request: FastifyRequest, maxFileBytes: number, maxTotalBytes: number): Promise<ParsedImageBody> {
  const fields: RawImageRequest = {};
  const images: RawImageInput[] = [];
  let mask: RawImageInput | undefined;
  let totalBytes = 0;
  const fileSize = Math.min(maxFileBytes, maxTotalBytes);
  for await (const part of request.parts({ limits: { fileSize, files: 20, fields: 64 } })) {
    if (part.type === 'file') {
      const data = await part.toBuffer();
      totalBytes += data.length;
      if (totalBytes > maxTotalBytes) {
        throw new GatewayError('request_too_large', `The request body is too large: the files add up to more than ${maxTotalBytes} bytes.`);
      }
      const input: RawImageInput = { data, filename: part.filename, field: part.fieldname };
      if (imageFieldNames.has(part.fieldname)) images.push(input);
      else if (part.fieldname === 'mask') mask = input;
      else throw new GatewayError('invalid_value', `Unexpected file field '${part.fieldname}'. Files go in 'image', 'image[]' or 'mask'.`, { param: part.fieldname });
    } else {
      const value = typeof part.value === 'string' ? part.value : String(part.value);
      // Text parts named image[] (URLs) are treated as image references.
      if (imageFieldNames.has(part.fieldname) || part.fieldname === 'mask') {
        throw new GatewayError('invalid_value', `'${part.fieldname}' must be a file part in a multipart request.`, { param: part.fieldname });
      }
      fields[part.fieldname] = convertField(part.fieldname, value);
    }
  }
  return { fields, images, mask };
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
