// Which bytes a range covers in an object of a known size (RFC 9110 §14.1.2), for blob stores that
// read ranges themselves (local disk); stores whose backend takes an HTTP Range (S3) pass it on.

import type { BlobRangeRequest } from './ports/blob-store.js';

/** Inclusive positions, the end clamped to the object; undefined when the range is unsatisfiable. */
export function resolveBlobRange(range: BlobRangeRequest, size: number): { start: number; end: number } | undefined {
  if ('suffixLength' in range) {
    if (range.suffixLength <= 0 || size === 0) return undefined;
    return { start: Math.max(0, size - range.suffixLength), end: size - 1 };
  }
  if (range.start >= size) return undefined;
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}
