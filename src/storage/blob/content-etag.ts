// Every blob store's etag: the sha256 of the object's bytes, in hex. A pure function of the bytes, so
// a layer that keeps a copy (./recent-blobs.ts) gives the same validator the store itself would, and a
// writer that needs no etag (nearly every put) pays nothing for one.

import { createHash, webcrypto } from 'node:crypto';

/** Below this, hashing on the event loop costs less than Web Crypto's own overhead (tens of microseconds). */
const threadPoolHashBytes = 64 * 1024;

/** Web Crypto's digest runs on libuv's thread pool, so hashing megabytes never stalls the event loop. */
export async function contentEtag(data: Buffer): Promise<string> {
  if (data.length < threadPoolHashBytes) return createHash('sha256').update(data).digest('hex');
  return Buffer.from(await webcrypto.subtle.digest('SHA-256', data)).toString('hex');
}
