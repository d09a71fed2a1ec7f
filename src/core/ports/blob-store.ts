// Where generated images live: local disk by default, S3 when scaled out.

export interface StoredBlob {
  data: Buffer;
  contentType: string;
  size: number;
  /** Strong validator of the bytes: their sha256, in hex. */
  etag: string;
  createdAt: number;
}

/** A byte range as a client asks for it (HTTP Range): from `start` (to `end`, inclusive), or the last `suffixLength` bytes. */
export type BlobRangeRequest = { start: number; end?: number } | { suffixLength: number };

/** Part of an object, with the facts of the whole object it was read from. */
export interface StoredBlobRange {
  /** Bytes start..end (inclusive) of the object. */
  data: Buffer;
  start: number;
  end: number;
  /** Size of the whole object. */
  size: number;
  contentType: string;
  /** The same strong validator `get` gives for the whole object. */
  etag: string;
  createdAt: number;
}

export interface BlobStore {
  /**
   * Stores the whole object atomically: a reader sees all of it or nothing. Its etag is the sha256 of
   * `data` (storage/blob/content-etag.ts), so a writer that wants it computes it: most do not, and
   * hashing every image written cost a tenth of a hosted-URL answer's CPU.
   */
  put(key: string, data: Buffer, contentType: string): Promise<void>;
  get(key: string): Promise<StoredBlob | undefined>;
  /**
   * Reads part of an object without holding the rest in memory (resumed downloads of hosted images).
   * The range is resolved against the object's own size in the same read, so `size`, `etag` and the
   * bytes always belong to one version of the object. An `end` past the object is clamped;
   * `unsatisfiable` when the range starts at or past the end (or is an empty suffix); undefined when
   * the key does not exist.
   */
  getRange(key: string, range: BlobRangeRequest): Promise<StoredBlobRange | { unsatisfiable: true; size: number } | undefined>;
  delete(key: string): Promise<void>;
  /** Deletes objects created before the cutoff; returns how many. */
  deleteOlderThan(cutoffMs: number): Promise<number>;
  /** Throws when the store cannot be written to (readiness). */
  ping(): Promise<void>;
  /** The store's own time-limited GET URL of an object (object stores only: `images.url_mode: presigned`). */
  presignedUrl?(key: string, ttlSeconds: number): Promise<string>;
}
