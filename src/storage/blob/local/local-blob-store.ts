// Images on local disk under the data dir: atomic writes, content type kept, etag = sha256 of the bytes (hashed when read).

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { resolveBlobRange } from '../../../core/blob-range.js';
import { GatewayError } from '../../../core/errors.js';
import type { BlobRangeRequest, BlobStore, StoredBlob, StoredBlobRange } from '../../../core/ports/blob-store.js';
import { contentEtag } from '../content-etag.js';

export interface LocalBlobStoreOptions {
  /**
   * Root folder of the objects, created on first write. It must belong to this store alone
   * (e.g. `<data dir>/blobs`, never the data dir itself): deleteOlderThan removes every old file under it.
   */
  directory: string;
  /**
   * Flush each object to the disk (fsync) before it becomes visible. Off by default: writes are
   * atomic either way (temporary file + rename, so a reader never sees part of an object), and a
   * crash of the gateway loses nothing the kernel already holds; only an OS crash or power cut can
   * lose the last seconds of images, the same window the SQLite stores accept (synchronous = NORMAL).
   * On: about 9 ms more per image on an ordinary disk, which caps hosted-URL answers at a few
   * hundred per second (docs/performance.md).
   */
  fsync?: boolean;
}

/** Content types implied by an extension; a put with another type keeps it in a sidecar file. */
const contentTypeByExtension: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  webp: 'image/webp',
  gif: 'image/gif',
  json: 'application/json',
  txt: 'text/plain; charset=utf-8',
};
const fallbackContentType = 'application/octet-stream';
const maximumKeyLength = 512;
// Names beginning with a dot are ours (temporary files, sidecars, probes): keys may not use them.
const temporaryPrefix = '.tmp-';
const sidecarPrefix = '.meta-';

export class LocalBlobStore implements BlobStore {
  readonly #root: string;
  readonly #fsync: boolean;
  /** Folders known to exist, so a put costs no mkdir (one folder per day holds every image). */
  readonly #folders = new Set<string>();

  constructor(options: LocalBlobStoreOptions) {
    // An empty path would resolve to the working directory, and retention would then sweep it.
    if (options.directory.trim() === '') throw new Error('LocalBlobStore needs a directory');
    this.#root = resolve(options.directory);
    this.#fsync = options.fsync ?? false;
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    const path = this.#pathOf(key);
    const folder = dirname(path);
    const write = !this.#fsync && data.length <= synchronousWriteBytes ? () => this.#putSmall(path, folder, key, data, contentType) : async () => {
      if (!this.#folders.has(folder)) {
        await mkdir(folder, { recursive: true });
        this.#folders.add(folder);
      }
      const impliedType = contentTypeOfExtension(key);
      const sidecar = sidecarPathOf(path);
      if (impliedType === contentType) {
        await writeAtomically(path, data, this.#fsync);
        // Checked first, as #putSmall does: unlinking a file that is not there (the usual case) costs an
        // exception and a thread-pool round trip (1.8 % of scenario 3's CPU).
        if (existsSync(sidecar)) await unlink(sidecar).catch(ignoreMissing);
      } else {
        // The sidecar goes first: once the bytes are visible, their content type already is.
        await writeAtomically(sidecar, Buffer.from(contentType, 'utf8'), this.#fsync);
        await writeAtomically(path, data, this.#fsync);
      }
    };
    try {
      await write();
    } catch (error) {
      // A folder removed behind our back (by hand, by another process) is made again, once.
      if (!isMissing(error) || !this.#folders.delete(folder)) throw error;
      await write();
    }
  }

  /**
   * A small object without fsync, written on this thread: the same temporary file and rename, but
   * without a thread-pool round trip per file call. Profile of scenario 4 (a 4 KB result per task):
   * the five round trips of an asynchronous put cost 110–180 µs of CPU against 45–55 µs for the
   * same calls made synchronously, and the event loop already waits for writes of this size when
   * SQLite commits. Large objects, and every object when fsync is on, stay off the event loop.
   */
  #putSmall(path: string, folder: string, key: string, data: Buffer, contentType: string): void {
    if (!this.#folders.has(folder)) {
      mkdirSync(folder, { recursive: true });
      this.#folders.add(folder);
    }
    const sidecar = sidecarPathOf(path);
    if (contentTypeOfExtension(key) === contentType) {
      writeSmallAtomically(path, data);
      // Checked first: unlinking a file that is not there (the usual case) costs an exception.
      if (existsSync(sidecar)) unlinkIfPresent(sidecar);
    } else {
      writeSmallAtomically(sidecar, Buffer.from(contentType, 'utf8'));
      writeSmallAtomically(path, data);
    }
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    const path = this.#pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    // Size, time and bytes all come from the one open file, even if a put renames a new one over it meanwhile.
    let data: Buffer;
    let createdAt: number;
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) return undefined;
      data = await handle.readFile();
      createdAt = Math.floor(stats.mtimeMs);
    } finally {
      await handle.close();
    }
    const sidecarType = await readFile(sidecarPathOf(path), 'utf8').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    return {
      data,
      contentType: sidecarType ?? contentTypeOfExtension(key) ?? fallbackContentType,
      size: data.length,
      etag: await contentEtag(data),
      createdAt,
    };
  }

  async getRange(key: string, range: BlobRangeRequest): Promise<StoredBlobRange | { unsatisfiable: true; size: number } | undefined> {
    const path = this.#pathOf(key);
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw error;
    }
    // One open file answers everything: a put that renames a new version over it meanwhile changes nothing here.
    let data: Buffer;
    let size: number;
    let start: number;
    let end: number;
    let etag: string;
    let createdAt: number;
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) return undefined;
      size = stats.size;
      const resolved = resolveBlobRange(range, size);
      if (resolved === undefined) return { unsatisfiable: true, size };
      ({ start, end } = resolved);
      data = Buffer.alloc(end - start + 1);
      let read = 0;
      while (read < data.length) {
        const { bytesRead } = await handle.read(data, read, data.length - read, start + read);
        if (bytesRead === 0) break;
        read += bytesRead;
      }
      // The etag is the content hash of the whole object, as get() gives it: hashed while streaming the file.
      etag = await sha256OfFile(handle);
      createdAt = Math.floor(stats.mtimeMs);
    } finally {
      await handle.close();
    }
    const sidecarType = await readFile(sidecarPathOf(path), 'utf8').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    return { data, start, end, size, contentType: sidecarType ?? contentTypeOfExtension(key) ?? fallbackContentType, etag, createdAt };
  }

  async delete(key: string): Promise<void> {
    const path = this.#pathOf(key);
    await unlink(path).catch(ignoreMissing);
    await unlink(sidecarPathOf(path)).catch(ignoreMissing);
  }

  /** Walks the whole tree; also removes temporary files a crashed write left behind. */
  async deleteOlderThan(cutoffMs: number): Promise<number> {
    let deleted = 0;
    const walk = async (folder: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(folder, { withFileTypes: true });
      } catch (error) {
        if (isMissing(error)) return;
        throw error;
      }
      for (const entry of entries) {
        const path = join(folder, entry.name);
        if (entry.isDirectory()) {
          await walk(path);
          continue;
        }
        if (!entry.isFile()) continue;
        const stats = await stat(path).catch((error: unknown) => {
          if (isMissing(error)) return undefined;
          throw error;
        });
        if (stats === undefined || stats.mtimeMs >= cutoffMs) continue;
        if (entry.name.startsWith(sidecarPrefix)) {
          // A sidecar goes with its object; one left alone by an interrupted delete is removed here.
          const target = join(folder, entry.name.slice(sidecarPrefix.length));
          if (!(await exists(target))) await unlink(path).catch(ignoreMissing);
          continue;
        }
        if (entry.name.startsWith('.')) {
          await unlink(path).catch(ignoreMissing);
          continue;
        }
        await unlink(path).catch(ignoreMissing);
        await unlink(sidecarPathOf(path)).catch(ignoreMissing);
        deleted += 1;
      }
    };
    await walk(this.#root);
    return deleted;
  }

  async ping(): Promise<void> {
    await mkdir(this.#root, { recursive: true });
    const probe = join(this.#root, `.probe-${randomBytes(8).toString('hex')}`);
    await writeAtomically(probe, Buffer.from('ok'), this.#fsync);
    await unlink(probe);
  }

  #pathOf(key: string): string {
    validateKey(key);
    return join(this.#root, ...key.split('/'));
  }
}

/** Keys are relative paths of plain segments; anything that could leave the root or hit our own files is refused. */
export function validateKey(key: string): void {
  const problem =
    key.length === 0
      ? 'is empty'
      : key.length > maximumKeyLength
        ? `is longer than ${maximumKeyLength} characters`
        : !/^[A-Za-z0-9/_.-]+$/.test(key)
          ? 'may only contain letters, digits, "/", "_", "." and "-"'
          : key.split('/').some((segment) => segment.length === 0 || segment.startsWith('.'))
            ? 'must be a relative path whose segments are not empty and do not begin with "."'
            : undefined;
  if (problem !== undefined) {
    throw new GatewayError('invalid_value', `Invalid blob key ${JSON.stringify(key.slice(0, 100))}: it ${problem}.`, { param: 'key' });
  }
}

function contentTypeOfExtension(key: string): string | undefined {
  const dot = key.lastIndexOf('.');
  if (dot === -1 || dot < key.lastIndexOf('/')) return undefined;
  return contentTypeByExtension[key.slice(dot + 1).toLowerCase()];
}

function sidecarPathOf(path: string): string {
  return join(dirname(path), `${sidecarPrefix}${basename(path)}`);
}

/** Write to a unique temporary file in the same folder, flush it to disk if asked, then rename over the target. */
async function writeAtomically(path: string, data: Buffer, fsync: boolean): Promise<void> {
  const temporary = join(dirname(path), `${temporaryPrefix}${basename(path)}-${randomBytes(6).toString('hex')}`);
  const handle = await open(temporary, 'wx');
  try {
    await handle.writeFile(data);
    if (fsync) await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  await handle.close();
  try {
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
}

/** writeAtomically for a small object, on the calling thread. */
function writeSmallAtomically(path: string, data: Buffer): void {
  const temporary = join(dirname(path), `${temporaryPrefix}${basename(path)}-${randomBytes(6).toString('hex')}`);
  try {
    writeFileSync(temporary, data, { flag: 'wx' });
    renameSync(temporary, path);
  } catch (error) {
    try {
      unlinkSync(temporary);
    } catch {
      // Never created, or not removable either: the write's own error is the one to report.
    }
    throw error;
  }
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    ignoreMissing(error);
  }
}

/** Objects up to this size (without fsync) are written synchronously; see #putSmall. */
const synchronousWriteBytes = 64 * 1024;

/** sha256 of a whole open file, read in chunks so a large object is never held in memory. */
async function sha256OfFile(handle: FileHandle): Promise<string> {
  const hash = createHash('sha256');
  const chunk = Buffer.alloc(1024 * 1024);
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
    if (bytesRead === 0) break;
    hash.update(chunk.subarray(0, bytesRead));
    position += bytesRead;
  }
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    (error: unknown) => {
      if (isMissing(error)) return false;
      throw error;
    },
  );
}

/** ENOTDIR too: a key below a path that is a file (`a.png/b.png`) names nothing. */
function isMissing(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function ignoreMissing(error: unknown): void {
  if (!isMissing(error)) throw error;
}
