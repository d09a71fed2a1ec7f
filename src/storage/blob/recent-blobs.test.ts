// RecentBlobs: still a conformant BlobStore, answers the first read of a small new object from memory,
// and never answers for an object that was deleted, swept by age, too large, or too old to keep.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { describeBlobStoreConformance } from '../../testing/conformance/blob-store.conformance.js';
import { LocalBlobStore } from './local/local-blob-store.js';
import { RecentBlobs } from './recent-blobs.js';

describeBlobStoreConformance('RecentBlobs over LocalBlobStore', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'imagegate-recent-blobs-'));
  return { store: new RecentBlobs(new LocalBlobStore({ directory })), cleanup: () => rm(directory, { recursive: true, force: true }) };
});

describe('RecentBlobs', () => {
  let directory: string;
  const key = 'images/2026/12/03/result.png';
  const bytes = Buffer.from('\x89PNG small result');
  /** The object's file on disk, removed by hand: what is read afterwards can only come from memory. */
  const removeFile = () => rm(join(directory, ...key.split('/')));

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'imagegate-recent-blobs-'));
  });
  afterEach(async () => rm(directory, { recursive: true, force: true }));

  it('answers the read of a small object it just wrote from memory, with what the store answered', async () => {
    const store = new RecentBlobs(new LocalBlobStore({ directory }));
    await store.put(key, bytes, 'image/png');
    const fromDisk = await new LocalBlobStore({ directory }).get(key);
    await removeFile();
    const blob = await store.get(key);
    expect(blob?.data.equals(bytes)).toBe(true);
    expect(blob).toMatchObject({ contentType: 'image/png', size: bytes.length });
    expect(blob?.etag).toBe(fromDisk?.etag);
  });

  it('reads the store for objects above the size it keeps, and once an object is older than it keeps them', async () => {
    const tooLarge = new RecentBlobs(new LocalBlobStore({ directory }), { maxObjectBytes: bytes.length - 1 });
    await tooLarge.put(key, bytes, 'image/png');
    await removeFile();
    expect(await tooLarge.get(key)).toBeUndefined();

    const shortLived = new RecentBlobs(new LocalBlobStore({ directory }), { maxAgeMs: 20 });
    await shortLived.put(key, bytes, 'image/png');
    await removeFile();
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await shortLived.get(key)).toBeUndefined();
  });

  it('forgets an object that is deleted or swept by age', async () => {
    const store = new RecentBlobs(new LocalBlobStore({ directory }));
    await store.put(key, bytes, 'image/png');
    await store.delete(key);
    expect(await store.get(key)).toBeUndefined();

    await store.put(key, bytes, 'image/png');
    expect(await store.deleteOlderThan(Date.now() + 60_000)).toBe(1);
    expect(await store.get(key)).toBeUndefined();
  });

  it('answers an overwrite with the new bytes and content type', async () => {
    const store = new RecentBlobs(new LocalBlobStore({ directory }));
    await store.put(key, bytes, 'image/png');
    await store.put(key, Buffer.from('other'), 'application/octet-stream');
    const blob = await store.get(key);
    expect(blob?.data.toString()).toBe('other');
    expect(blob?.contentType).toBe('application/octet-stream');
  });
});
