// LocalBlobStore: the shared BlobStore conformance suite, plus what only a disk store can show.

import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../core/errors.js';
import { describeBlobStoreConformance } from '../../../testing/conformance/blob-store.conformance.js';
import { LocalBlobStore } from './local-blob-store.js';

describeBlobStoreConformance('LocalBlobStore', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'imagegate-blobs-'));
  return { store: new LocalBlobStore({ directory }), cleanup: () => rm(directory, { recursive: true, force: true }) };
});

/** Every file under a folder, as paths relative to it. */
async function listFiles(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(folder.length + 1))
    .sort();
}

describe('LocalBlobStore on disk', () => {
  let directory: string;
  let store: LocalBlobStore;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'imagegate-blobs-'));
    store = new LocalBlobStore({ directory: join(directory, 'data') });
  });

  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('writes the plain bytes at the key path and uses their sha256 as the bare etag', async () => {
    const data = Buffer.from('\x89PNG fake image bytes');
    await store.put('images/2026/11/21/img_1.png', data, 'image/png');
    expect((await store.get('images/2026/11/21/img_1.png'))?.etag).toBe(createHash('sha256').update(data).digest('hex'));
    expect(await readFile(join(directory, 'data/images/2026/11/21/img_1.png'))).toStrictEqual(data);
    // The extension already says image/png, so no sidecar and no temporary file is left behind.
    expect(await listFiles(join(directory, 'data'))).toStrictEqual(['images/2026/11/21/img_1.png']);
  });

  it('keeps a content type the extension does not imply, and forgets it when overwritten with one it does', async () => {
    // Small objects are written on the event loop, large ones (past 64 KB) off it: both paths.
    for (const size of [10, 200 * 1024]) {
      await rm(join(directory, 'data'), { recursive: true, force: true });
      store = new LocalBlobStore({ directory: join(directory, 'data') });
      await store.put('images/odd.png', Buffer.alloc(size, 1), 'image/webp');
      expect((await store.get('images/odd.png'))?.contentType).toBe('image/webp');
      await store.put('images/odd.png', Buffer.alloc(size, 2), 'image/png');
      expect((await store.get('images/odd.png'))?.contentType).toBe('image/png');
      expect(await listFiles(join(directory, 'data'))).toStrictEqual(['images/odd.png']);
    }
  });

  it('writes small and large objects alike (small ones synchronously), and makes a folder removed behind its back again', async () => {
    const small = Buffer.alloc(1024, 1);
    const large = Buffer.alloc(200 * 1024, 2);
    for (const [name, data] of [['small', small], ['large', large]] as const) {
      await store.put(`images/${name}/result.png`, data, 'image/png');
      await rm(join(directory, 'data/images', name), { recursive: true });
      await store.put(`images/${name}/result.png`, data, 'image/webp');
      const blob = await store.get(`images/${name}/result.png`);
      expect(blob?.data.equals(data)).toBe(true);
      expect(blob?.contentType).toBe('image/webp');
    }
    expect(await listFiles(join(directory, 'data'))).toStrictEqual(['images/large/.meta-result.png', 'images/large/result.png', 'images/small/.meta-result.png', 'images/small/result.png']);
  });

  it('takes createdAt from the file time and deletes only files older than the cutoff', async () => {
    await store.put('images/old.png', Buffer.from('old'), 'image/png');
    await store.put('images/old-webp.bin', Buffer.from('old'), 'image/webp');
    await store.put('images/new.png', Buffer.from('new'), 'image/png');
    const dayAgo = new Date(Date.now() - 86_400_000);
    await utimes(join(directory, 'data/images/old.png'), dayAgo, dayAgo);
    await utimes(join(directory, 'data/images/old-webp.bin'), dayAgo, dayAgo);
    expect((await store.get('images/old.png'))?.createdAt).toBe(Math.floor((await stat(join(directory, 'data/images/old.png'))).mtimeMs));

    expect(await store.deleteOlderThan(Date.now() - 3_600_000)).toBe(2);
    expect(await store.get('images/old.png')).toBeUndefined();
    expect(await store.get('images/new.png')).toBeDefined();
    // The sidecar of the deleted object goes with it.
    expect(await listFiles(join(directory, 'data'))).toStrictEqual(['images/new.png']);
  });

  it('clears temporary files an interrupted write left behind, without counting them as objects', async () => {
    await store.put('images/kept.png', Buffer.from('kept'), 'image/png');
    const leftover = join(directory, 'data/images/.tmp-crashed.png-0a1b2c');
    await writeFile(leftover, 'partial');
    const dayAgo = new Date(Date.now() - 86_400_000);
    await utimes(leftover, dayAgo, dayAgo);
    expect(await store.deleteOlderThan(Date.now() - 3_600_000)).toBe(0);
    expect(await listFiles(join(directory, 'data'))).toStrictEqual(['images/kept.png']);
  });

  it('never reads or writes outside its folder, answering a 400-class error for a bad key', async () => {
    await writeFile(join(directory, 'secret.txt'), 'outside');
    for (const key of ['../secret.txt', 'images/../../secret.txt', '.hidden.png', 'images/.meta-x.png', 'a\\b.png']) {
      const failure = await store.get(key).catch((error: unknown) => error);
      expect(isGatewayError(failure) && failure.status === 400, `key ${key}`).toBe(true);
    }
    await expect(store.put('../secret.txt', Buffer.from('overwritten'), 'text/plain')).rejects.toThrow(/Invalid blob key/);
    expect(await readFile(join(directory, 'secret.txt'), 'utf8')).toBe('outside');
  });

  it('answers undefined for a key below an object, as for any missing key', async () => {
    await store.put('images/a.png', Buffer.from('a'), 'image/png');
    expect(await store.get('images/a.png/b.png')).toBeUndefined();
    await expect(store.delete('images/a.png/b.png')).resolves.toBeUndefined();
  });

  it('refuses an empty directory rather than working in the current folder', () => {
    expect(() => new LocalBlobStore({ directory: '' })).toThrow(/directory/);
  });

  it('ping leaves nothing behind and fails when the folder cannot be written', async () => {
    await store.ping();
    expect(await listFiles(join(directory, 'data'))).toStrictEqual([]);
    // A file where the folder should be: the store can never write there.
    await writeFile(join(directory, 'blocked'), 'not a folder');
    await expect(new LocalBlobStore({ directory: join(directory, 'blocked') }).ping()).rejects.toThrow();
  });
});
