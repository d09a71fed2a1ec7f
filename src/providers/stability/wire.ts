// What Stability's v2beta answers look like to the adapter: raw image bytes with `finish-reason` and
// `seed` headers on success, `{"id","name","errors":[…]}` on failure. Only the fields used are read.

import type { HttpResponse } from '../shared/types.js';
import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const stabilityProviderName = 'stability';

export interface StabilityImage {
  data: Buffer;
  mediaType: string;
  /** `SUCCESS`, or `CONTENT_FILTERED` when the output was blurred by moderation. */
  finishReason: 'SUCCESS' | 'CONTENT_FILTERED';
  requestId: string | undefined;
}

export interface StabilityErrorBody {
  name: string | undefined;
  errors: string[];
}

/** Encoders may pad a file after its end marker; a marker this close to the end still means complete. */
const trailingSlack = 64;

/**
 * Checks the signature and the end marker, so a cut-off or mislabelled body is caught here and not
 * deep in the core.
 */
function looksLikeImage(data: Buffer, mediaType: string): boolean {
  if (mediaType === 'image/png') {
    const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const end = data.lastIndexOf('IEND');
    return data.length > 8 && data.subarray(0, 8).equals(signature) && end >= 8 && end >= data.length - trailingSlack;
  }
  if (mediaType === 'image/jpeg') {
    const end = data.lastIndexOf(Buffer.from([0xff, 0xd9]));
    return data.length > 4 && data[0] === 0xff && data[1] === 0xd8 && end >= 2 && end >= data.length - trailingSlack;
  }
  if (mediaType === 'image/webp') {
    return data.length > 12 && data.toString('latin1', 0, 4) === 'RIFF' && data.toString('latin1', 8, 12) === 'WEBP' && data.readUInt32LE(4) + 8 <= data.length;
  }
  return false;
}

/** A 200 answer to a request sent with `Accept: image/*`. */
export function parseImageResponse(response: HttpResponse): StabilityImage {
  const mediaType = (response.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!mediaType.startsWith('image/')) throw invalidUpstreamResponse(stabilityProviderName, `expected image bytes, got content-type ${JSON.stringify(mediaType)}`);
  const finishReason = (response.headers['finish-reason'] ?? 'SUCCESS').trim().toUpperCase();
  if (finishReason !== 'SUCCESS' && finishReason !== 'CONTENT_FILTERED') {
    throw invalidUpstreamResponse(stabilityProviderName, `unknown finish-reason ${JSON.stringify(finishReason)}`);
  }
  if (!looksLikeImage(response.body, mediaType)) throw invalidUpstreamResponse(stabilityProviderName, `the body is not a complete ${mediaType} image`);
  return { data: response.body, mediaType, finishReason, requestId: response.headers['x-request-id'] };
}

export function parseStabilityError(body: Buffer): StabilityErrorBody {
  try {
    const json: unknown = JSON.parse(body.toString('utf8'));
    if (typeof json !== 'object' || json === null) return { name: undefined, errors: [] };
    const record = json as Record<string, unknown>;
    const errors = Array.isArray(record['errors']) ? record['errors'].filter((entry): entry is string => typeof entry === 'string') : [];
    return { name: typeof record['name'] === 'string' ? record['name'] : undefined, errors };
  } catch {
    return { name: undefined, errors: [] };
  }
}
