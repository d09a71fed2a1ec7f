// Where generated images live: local disk by default, S3 when scaled out.

export interface StoredBlob {
  data: Buffer;
  contentType: string;
  size: number;
  /** Strong validator of the bytes (content hash). */
  etag: string;
  createdAt: number;
}

export interface BlobStore {
  /** Stores the whole object atomically: a reader sees all of it or nothing. */
  put(key: string, data: Buffer, contentType: string): Promise<{ etag: string }>;
  get(key: string): Promise<StoredBlob | undefined>;
  delete(key: string): Promise<void>;
  /** Deletes objects created before the cutoff; returns how many. */
  deleteOlderThan(cutoffMs: number): Promise<number>;
  /** Throws when the store cannot be written to (readiness). */
  ping(): Promise<void>;
}
