// A BlobStore that keeps the small objects this process has just written in memory, so the first
// reader of a new object — a task's result fetched by the client's next poll, a b64_json replay —
// gets the bytes without a file or network round trip. The store underneath stays the source of
// truth: every write goes through to it before the put resolves, and anything not (or no longer)
// held here is read from it.
//
// Why the cache can never serve an object that is gone: objects are written under fresh keys and
// removed only by age (retention, `deleteOlderThan`) or by `delete`; both evict here too, and an entry
// lives at most `maxAgeMs`, far below any retention period, so another process's retention sweep
// cannot remove an object this one still holds. A put over an existing key replaces the entry.

import { LRUCache } from 'lru-cache';
import type { BlobRangeRequest, BlobStore, StoredBlob, StoredBlobRange } from '../../core/ports/blob-store.js';
import { contentEtag } from './content-etag.js';

export interface RecentBlobsOptions {
  /** Bytes held at most (the least recently used go first). */
  maxBytes?: number;
  /** Objects larger than this are not kept: the cache is for the many small results, not for large images. */
  maxObjectBytes?: number;
  /** How long an object stays after it was written. */
  maxAgeMs?: number;
}

export const recentBlobDefaults = { maxBytes: 16 * 1024 * 1024, maxObjectBytes: 256 * 1024, maxAgeMs: 60_000 } as const;

/** The decorator; `close` and `presignedUrl` are the wrapped store's own (present only when it has them). */
export class RecentBlobs implements BlobStore {
  readonly #store: BlobStore & { close?(): void };
  readonly #maxObjectBytes: number;
  readonly #recent: LRUCache<string, StoredBlob>;
  readonly presignedUrl?: (key: string, ttlSeconds: number) => Promise<string>;
  readonly close?: () => void;

  constructor(store: BlobStore & { close?(): void }, options: RecentBlobsOptions = {}) {
    this.#store = store;
    this.#maxObjectBytes = options.maxObjectBytes ?? recentBlobDefaults.maxObjectBytes;
    this.#recent = new LRUCache<string, StoredBlob>({
      maxSize: options.maxBytes ?? recentBlobDefaults.maxBytes,
      sizeCalculation: (blob) => Math.max(1, blob.size),
      ttl: options.maxAgeMs ?? recentBlobDefaults.maxAgeMs,
    });
    if (store.presignedUrl) this.presignedUrl = store.presignedUrl.bind(store);
    if (store.close) this.close = store.close.bind(store);
  }

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    // Dropped first: a failed overwrite must not leave the old bytes answering here.
    this.#recent.delete(key);
    if (data.length > this.#maxObjectBytes) return this.#store.put(key, data, contentType);
    // The etag the store's own reads give (a hash of the bytes), made beside the write.
    const [etag] = await Promise.all([contentEtag(data), this.#store.put(key, data, contentType)]);
    // Kept as handed over: callers never change a buffer once they have stored it.
    this.#recent.set(key, { data, contentType, size: data.length, etag, createdAt: Date.now() });
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    return this.#recent.get(key) ?? this.#store.get(key);
  }

  getRange(key: string, range: BlobRangeRequest): Promise<StoredBlobRange | { unsatisfiable: true; size: number } | undefined> {
    return this.#store.getRange(key, range);
  }

  async delete(key: string): Promise<void> {
    this.#recent.delete(key);
    await this.#store.delete(key);
  }

  async deleteOlderThan(cutoffMs: number): Promise<number> {
    for (const [key, blob] of this.#recent.entries()) if (blob.createdAt < cutoffMs) this.#recent.delete(key);
    return this.#store.deleteOlderThan(cutoffMs);
  }

  ping(): Promise<void> {
    return this.#store.ping();
  }
}
