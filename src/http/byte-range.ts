// The Range header of a GET, as a static file server reads it (RFC 9110 §14): one `bytes=` range,
// `first-last`, `first-` or `-suffix`. A header that is not one valid byte range — another unit,
// several ranges, bad syntax — is ignored and the whole object is served, which the RFC allows
// (§14.2: "A server MAY ignore the Range header field"); only a well-formed range that lies wholly
// past the end of the object is unsatisfiable (416); the blob store resolves it against the object.

import type { BlobRangeRequest } from '../core/ports/blob-store.js';

/** Digits only, and few enough to stay an exact integer. */
const positionPattern = /^\d{1,15}$/;

/** Parses the header; undefined means "ignore it and send the whole object". */
export function parseRangeHeader(header: string | undefined): BlobRangeRequest | undefined {
  if (header === undefined || header.length > 200) return undefined;
  const match = /^\s*bytes\s*=\s*([^,]*)$/i.exec(header);
  if (!match) return undefined;
  const spec = (match[1] ?? '').trim();
  const dash = spec.indexOf('-');
  if (dash === -1) return undefined;
  const first = spec.slice(0, dash).trim();
  const last = spec.slice(dash + 1).trim();
  if (first === '') {
    if (!positionPattern.test(last)) return undefined;
    return { suffixLength: Number(last) };
  }
  if (!positionPattern.test(first) || (last !== '' && !positionPattern.test(last))) return undefined;
  const start = Number(first);
  if (last === '') return { start };
  const end = Number(last);
  // first > last is an invalid range-spec (§14.1.1), so the header is ignored.
  if (end < start) return undefined;
  return { start, end };
}
