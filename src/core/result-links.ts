// The links a client gets for hosted results: a signed gateway URL (/v1/files/…, served by any
// replica from the blob store) or, with `images.url_mode: presigned`, the object store's own
// presigned GET, so image bytes go from the bucket to the client without passing through the gateway.
// Both expire after the same time (images.url_ttl_seconds).

import type { BlobStore } from './ports/blob-store.js';
import type { UrlSigner } from './signed-urls.js';

export type UrlMode = 'gateway' | 'presigned';

export interface ResultLinks {
  /** Absolute URL of a stored image; `publicBase` is the gateway's public origin (gateway mode). */
  urlFor(blobKey: string, publicBase: string): Promise<string>;
  /** The URL of every key at once, as a lookup (for the synchronous renderers). */
  urlsFor(blobKeys: string[], publicBase: string): Promise<(blobKey: string) => string>;
}

export function createResultLinks(options: { mode: UrlMode; signer: UrlSigner; blobs: BlobStore; ttlSeconds: number }): ResultLinks {
  const { blobs, signer } = options;
  const presign = options.mode === 'presigned' ? blobs.presignedUrl?.bind(blobs) : undefined;
  if (options.mode === 'presigned' && presign === undefined) throw new Error('images.url_mode presigned needs a blob store that presigns URLs (S3)');
  const urlFor = async (blobKey: string, publicBase: string): Promise<string> =>
    presign === undefined ? publicBase + signer.sign(blobKey, options.ttlSeconds).path : presign(blobKey, options.ttlSeconds);
  return {
    urlFor,
    async urlsFor(blobKeys, publicBase) {
      if (presign === undefined) return (blobKey) => publicBase + signer.sign(blobKey, options.ttlSeconds).path;
      const urls = new Map(await Promise.all(blobKeys.map(async (blobKey) => [blobKey, await presign(blobKey, options.ttlSeconds)] as const)));
      return (blobKey) => {
        const url = urls.get(blobKey);
        if (url === undefined) throw new Error(`no presigned URL was made for ${blobKey}`);
        return url;
      };
    },
  };
}
