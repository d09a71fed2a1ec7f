// Links to stored images for the admin API: signed like any hosted result (short-lived, no
// credentials in the URL), and marked expired once retention has deleted them.

import type { AdminDeps } from './deps.js';

export interface ImageLink {
  blob_key: string;
  /** Path of a signed URL on this gateway; null once the image passed the retention period. */
  url: string | null;
  expired: boolean;
}

export function retentionCutoff(deps: AdminDeps): number {
  return deps.clock.now() - deps.retention.imagesAndTasksHours * 60 * 60 * 1000;
}

export function imageLinks(deps: AdminDeps, blobKeys: readonly string[], createdAt: number): ImageLink[] {
  const expired = createdAt < retentionCutoff(deps);
  return blobKeys.map((blobKey) => ({ blob_key: blobKey, url: expired ? null : deps.signer.sign(blobKey).path, expired }));
}
