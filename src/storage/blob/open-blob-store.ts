// The blob store a configuration asks for: an S3-compatible bucket (storage.s3) or the data dir's disk.

import { join } from 'node:path';
import type { S3Settings } from '../../config/schema.js';
import type { BlobStore } from '../../core/ports/blob-store.js';
import { LocalBlobStore } from './local/local-blob-store.js';
import { RecentBlobs } from './recent-blobs.js';

export async function openBlobStore(settings: { s3: S3Settings | undefined; fsyncBlobs: boolean }, dataDir: string): Promise<BlobStore & { close?(): void }> {
  // Small objects just written are read back from memory (./recent-blobs.ts): a task's result on the client's next poll.
  return new RecentBlobs(await openUnderlyingStore(settings, dataDir));
}

async function openUnderlyingStore(settings: { s3: S3Settings | undefined; fsyncBlobs: boolean }, dataDir: string): Promise<BlobStore & { close?(): void }> {
  const s3 = settings.s3;
  if (s3 === undefined) return new LocalBlobStore({ directory: join(dataDir, 'blobs'), fsync: settings.fsyncBlobs });
  // Loaded only when a bucket is configured: the AWS SDK costs about 22 MB of memory in every
  // process that loads it, used or not.
  const { S3BlobStore } = await import('./s3/s3-blob-store.js');
  return new S3BlobStore({
    bucket: s3.bucket,
    region: s3.region,
    prefix: s3.prefix,
    forcePathStyle: s3.forcePathStyle,
    partSizeBytes: s3.partSizeBytes,
    ...(s3.endpoint === undefined ? {} : { endpoint: s3.endpoint }),
    ...(s3.credentials === undefined ? {} : { credentials: s3.credentials }),
  });
}
