// multipart/form-data, read like JSON: Fastify's own body reader collects the bytes under the one body
// limit (server.body_limit_mb) — Content-Length checked before a byte is read, the running total while
// the body streams, a 413 the moment it is crossed — and only a complete body is split into parts. So
// no content type escapes the limit, no rejection leaves half a body unread on a keep-alive
// connection, and a malformed body (a part without Content-Disposition, a missing boundary) is a 400
// instead of a parser waiting forever. Splitting uses undici's FormData parser (the Fetch standard's).

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Response } from 'undici';
import { GatewayError } from '../core/errors.js';
import type { RawImageInput } from '../core/image-inputs.js';
import type { RawImageRequest } from '../core/image-request.js';

/** What the content-type parser hands a route: the whole body and the header that says how to split it. */
export class MultipartBody {
  constructor(
    readonly bytes: Buffer,
    readonly contentType: string,
  ) {}
}

export interface MultipartLimits {
  /** Largest single file part. */
  maxFileBytes: number;
  /** Parts of each kind; more is a 413 before the body is split. */
  maxFiles: number;
  maxFields: number;
  /** Largest text part: refused (never cut short) above it. */
  maxFieldBytes: number;
}

export const defaultMultipartLimits: Omit<MultipartLimits, 'maxFileBytes'> = { maxFiles: 20, maxFields: 64, maxFieldBytes: 1024 * 1024 };

export interface ParsedMultipart {
  fields: RawImageRequest;
  images: RawImageInput[];
  mask: RawImageInput | undefined;
}

const imageFieldNames = new Set(['image', 'image[]', 'images', 'images[]']);

/** Multipart text fields that carry numbers or booleans (the SDK sends `n=2` as the text "2"). */
const integerFields = new Set(['n', 'output_compression', 'partial_images', 'seed']);
const booleanFields = new Set(['stream', 'async']);

/** Registers the parser: the body limit is Fastify's (the same bodyLimit every content type gets). */
export function registerMultipartParser(app: FastifyInstance): void {
  app.addContentTypeParser('multipart/form-data', { parseAs: 'buffer' }, (request, body, done) => {
    done(null, new MultipartBody(body as Buffer, String(request.headers['content-type'] ?? '')));
  });
}

export function isMultipartRequest(request: FastifyRequest): boolean {
  return request.body instanceof MultipartBody;
}

/** Splits a multipart body into request fields and image inputs, every bound checked. */
export async function readMultipartBody(request: FastifyRequest, limits: MultipartLimits): Promise<ParsedMultipart> {
  const body = request.body;
  if (!(body instanceof MultipartBody)) {
    throw new GatewayError('unsupported_media_type', 'This endpoint takes multipart/form-data.');
  }
  const boundary = boundaryOf(body.contentType);
  // Counted before splitting, so a body of a million tiny parts costs one scan, not a million objects.
  const parts = countParts(body.bytes, boundary);
  if (parts > limits.maxFiles + limits.maxFields) {
    throw new GatewayError('request_too_large', `The multipart body has ${parts} parts; at most ${limits.maxFiles} files and ${limits.maxFields} text fields are accepted.`);
  }
  let form: FormData;
  try {
    form = (await new Response(body.bytes, { headers: { 'content-type': body.contentType } }).formData()) as unknown as FormData;
  } catch (error) {
    throw new GatewayError(
      'invalid_value',
      'The multipart/form-data body could not be read: each part needs a `Content-Disposition: form-data; name="…"` header, and the body must end with the closing boundary.',
      { cause: error },
    );
  }

  const fields: RawImageRequest = {};
  const images: RawImageInput[] = [];
  let mask: RawImageInput | undefined;
  let files = 0;
  let texts = 0;
  for (const [name, value] of form.entries()) {
    // Names that would reach Object.prototype are never request fields.
    if (name in Object.prototype || name === '__proto__') throw new GatewayError('invalid_value', `'${shortName(name)}' is not a valid field name.`, { param: shortName(name) });
    if (typeof value !== 'string') {
      files += 1;
      if (files > limits.maxFiles) throw new GatewayError('request_too_large', `At most ${limits.maxFiles} files are accepted in one request.`);
      if (value.size > limits.maxFileBytes) {
        throw new GatewayError('request_too_large', `The file in '${shortName(name)}' is larger than ${limits.maxFileBytes} bytes.`, { param: shortName(name) });
      }
      const input: RawImageInput = { data: Buffer.from(await value.arrayBuffer()), filename: value.name, field: name };
      if (imageFieldNames.has(name)) images.push(input);
      else if (name === 'mask') mask = input;
      else throw new GatewayError('invalid_value', `Unexpected file field '${shortName(name)}'. Files go in 'image', 'image[]' or 'mask'.`, { param: shortName(name) });
      continue;
    }
    texts += 1;
    if (texts > limits.maxFields) throw new GatewayError('request_too_large', `At most ${limits.maxFields} text fields are accepted in one request.`);
    if (imageFieldNames.has(name) || name === 'mask') {
      throw new GatewayError('invalid_value', `'${name}' must be a file part in a multipart request.`, { param: name });
    }
    if (Buffer.byteLength(value) > limits.maxFieldBytes) {
      throw new GatewayError('invalid_value', `'${shortName(name)}' is larger than ${limits.maxFieldBytes} bytes, the most a text field may carry.`, { param: shortName(name) });
    }
    if (Object.hasOwn(fields, name)) throw new GatewayError('invalid_value', `'${shortName(name)}' is given more than once.`, { param: shortName(name) });
    fields[name] = convertField(name, value);
  }
  return { fields, images, mask };
}

function convertField(name: string, value: string): unknown {
  if (integerFields.has(name) && /^-?\d+$/.test(value.trim())) return Number(value);
  if (booleanFields.has(name)) {
    if (value === 'true') return true;
    if (value === 'false') return false;
  }
  return value;
}

/** The boundary parameter of the Content-Type (RFC 2046 §5.1.1: 1 to 70 characters, maybe quoted). */
function boundaryOf(contentType: string): string {
  const match = /;\s*boundary=(?:"([^"]{1,70})"|([^\s;]{1,70}))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (boundary === undefined) {
    throw new GatewayError('invalid_value', 'The multipart/form-data Content-Type has no boundary parameter.', { param: null });
  }
  return boundary;
}

function countParts(bytes: Buffer, boundary: string): number {
  const delimiter = Buffer.from(`--${boundary}`);
  let count = 0;
  for (let at = bytes.indexOf(delimiter); at !== -1; at = bytes.indexOf(delimiter, at + delimiter.length)) count += 1;
  // The last delimiter closes the body rather than opening a part.
  return Math.max(0, count - 1);
}

function shortName(name: string): string {
  return name.length > 64 ? `${name.slice(0, 64)}…` : name;
}
