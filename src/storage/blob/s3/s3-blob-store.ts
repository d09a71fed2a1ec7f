// Images in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Aliyun OSS, Tencent COS): every
// replica reads and writes the same objects, so a result stored by one is served by any other.
//
// Atomicity comes from S3 itself: "Amazon S3 never adds partial objects; if you receive a success
// response, Amazon S3 added the entire object to the bucket" and "If Amazon S3 receives multiple write
// requests for the same object simultaneously, it overwrites all but the last object written"
// (AWS, Amazon S3 User Guide, "Amazon S3 data consistency model"). A large image goes up as a
// multipart upload, which is invisible until CompleteMultipartUpload; a failed or interrupted one is
// aborted (lib-storage's `leavePartsOnError: false`), so neither an object nor stray parts remain.

import { createHash } from 'node:crypto';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { resolveBlobRange } from '../../../core/blob-range.js';
import type { BlobRangeRequest, BlobStore, StoredBlob, StoredBlobRange } from '../../../core/ports/blob-store.js';
import { validateKey } from '../local/local-blob-store.js';

export interface S3BlobStoreOptions {
  bucket: string;
  /** Folder inside the bucket that belongs to this gateway alone (`imagegate/`); retention sweeps only below it. */
  prefix?: string;
  /** `https://<account>.r2.cloudflarestorage.com`, `http://minio:9000` …; AWS's own endpoint when absent. */
  endpoint?: string;
  /** `auto` for R2; AWS and most others need the bucket's region. */
  region: string;
  /** `host/bucket/key` instead of `bucket.host/key` (MinIO, most self-hosted servers). */
  forcePathStyle?: boolean;
  /** Static credentials; when absent the SDK's default chain (environment, shared files, instance role) is used. */
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** Objects larger than this go up as multipart uploads in parts of this size (S3's minimum part is 5 MiB). */
  partSizeBytes?: number;
  /** A ready client (tests, or a caller that shares one). */
  client?: S3Client;
}

const mebibyte = 1024 * 1024;
/** S3 refuses parts under 5 MiB (except the last): "Part size: 5 MiB to 5 GiB" (Amazon S3 multipart upload limits). */
export const minimumPartSizeBytes = 5 * mebibyte;
/** Our own sha256 of the bytes travels as user metadata, so the etag is the same on every backend (local disk too). */
const hashMetadata = 'sha256';
/** A read whose bytes do not hash to what was written is read again, this many times at most. */
const readAttempts = 4;

export class S3BlobStore implements BlobStore {
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;
  readonly #partSize: number;
  readonly #ownsClient: boolean;

  constructor(options: S3BlobStoreOptions) {
    if (options.bucket.trim() === '') throw new Error('S3BlobStore needs a bucket');
    this.#bucket = options.bucket;
    this.#prefix = normalizePrefix(options.prefix ?? '');
    this.#partSize = Math.max(minimumPartSizeBytes, options.partSizeBytes ?? 8 * mebibyte);
    this.#ownsClient = options.client === undefined;
    this.#client =
      options.client ??
      new S3Client({
        region: options.region,
        ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
        forcePathStyle: options.forcePathStyle ?? false,
        ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
        // Checksums only where S3 requires them: the SDK's default (CRC32 on every request) is refused
        // or mishandled by several S3-compatible services (R2, OSS, COS and MinIO releases before 2025).
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
        maxAttempts: 3,
      });
  }

  async put(key: string, data: Buffer, contentType: string): Promise<{ etag: string }> {
    const objectKey = this.#objectKey(key);
    const etag = sha256(data);
    const request = { Bucket: this.#bucket, Key: objectKey, Body: data, ContentType: contentType, Metadata: { [hashMetadata]: etag } };
    if (data.length <= this.#partSize) {
      // One PUT: atomic, and cheaper than lib-storage's machinery for the common, small image.
      await this.#client.send(new PutObjectCommand({ ...request, ContentLength: data.length }));
    } else {
      await new Upload({ client: this.#client, params: request, partSize: this.#partSize, queueSize: 4, leavePartsOnError: false }).done();
    }
    return { etag };
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    const objectKey = this.#objectKey(key);
    for (let attempt = 1; ; attempt += 1) {
      let response;
      try {
        response = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw error;
      }
      const data = Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
      const etag = sha256(data);
      const written = response.Metadata?.[hashMetadata];
      // The bytes are checked against the hash written with them: a service weaker than S3 (or a
      // proxy that cut the body) could hand over a torn object, and a partial image is never served.
      if (written !== undefined && written !== etag) {
        if (attempt >= readAttempts) throw new Error(`The object ${objectKey} did not match its recorded hash after ${readAttempts} reads`);
        await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
        continue;
      }
      return {
        data,
        contentType: response.ContentType ?? 'application/octet-stream',
        size: data.length,
        etag,
        createdAt: response.LastModified?.getTime() ?? Date.now(),
      };
    }
  }

  /**
   * Reads the whole object (checked against its hash, like get) and cuts the range from it, so the
   * bytes, size and etag are of one version. Hosted images are bounded (images.max_download_mb); a
   * ranged GET bound to the version with If-Match would spare the memory for very large objects.
   */
  async getRange(key: string, range: BlobRangeRequest): Promise<StoredBlobRange | { unsatisfiable: true; size: number } | undefined> {
    const blob = await this.get(key);
    if (blob === undefined) return undefined;
    const resolved = resolveBlobRange(range, blob.size);
    if (resolved === undefined) return { unsatisfiable: true, size: blob.size };
    const { start, end } = resolved;
    return { data: blob.data.subarray(start, end + 1), start, end, size: blob.size, contentType: blob.contentType, etag: blob.etag, createdAt: blob.createdAt };
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for a key that does not exist: deleting twice is not an error.
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: this.#objectKey(key) }));
  }

  /**
   * Lists the prefix and deletes, 1,000 keys a request, what was last written before the cutoff.
   * A bucket lifecycle rule (expire after N days) does the same inside the service and is the
   * better choice for very large buckets; this keeps retention working where none is set.
   */
  async deleteOlderThan(cutoffMs: number): Promise<number> {
    let deleted = 0;
    let continuationToken: string | undefined;
    do {
      const page = await this.#client.send(
        new ListObjectsV2Command({ Bucket: this.#bucket, Prefix: this.#prefix, ...(continuationToken === undefined ? {} : { ContinuationToken: continuationToken }) }),
      );
      const old = (page.Contents ?? []).flatMap((object) =>
        object.Key !== undefined && object.LastModified !== undefined && object.LastModified.getTime() < cutoffMs ? [{ Key: object.Key }] : [],
      );
      if (old.length > 0) {
        const result = await this.#client.send(new DeleteObjectsCommand({ Bucket: this.#bucket, Delete: { Objects: old, Quiet: true } }));
        const failed = result.Errors ?? [];
        if (failed.length > 0) throw new Error(`S3 refused to delete ${failed.length} objects (first: ${failed[0]?.Code ?? 'unknown'} ${failed[0]?.Key ?? ''})`);
        // Probe objects of the readiness check are swept too, but are not images.
        deleted += old.filter((object) => !object.Key.slice(this.#prefix.length).startsWith('.')).length;
      }
      continuationToken = page.IsTruncated === true ? page.NextContinuationToken : undefined;
    } while (continuationToken !== undefined);
    return deleted;
  }

  /** Writes and deletes a probe object: proves the bucket exists and the credentials may write to it. */
  async ping(): Promise<void> {
    const probe = `${this.#prefix}.probe-${process.pid}-${Date.now().toString(36)}`;
    await this.#client.send(new PutObjectCommand({ Bucket: this.#bucket, Key: probe, Body: Buffer.from('ok'), ContentLength: 2 }));
    await this.#client.send(new DeleteObjectCommand({ Bucket: this.#bucket, Key: probe }));
  }

  /** The service's own presigned GET of the object, valid for `ttlSeconds` (at most 7 days in SigV4). */
  async presignedUrl(key: string, ttlSeconds: number): Promise<string> {
    return getSignedUrl(this.#client, new GetObjectCommand({ Bucket: this.#bucket, Key: this.#objectKey(key) }), {
      expiresIn: Math.min(ttlSeconds, 7 * 24 * 3600),
    });
  }

  close(): void {
    if (this.#ownsClient) this.#client.destroy();
  }

  #objectKey(key: string): string {
    validateKey(key);
    return this.#prefix + key;
  }
}

function normalizePrefix(prefix: string): string {
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  validateKey(trimmed);
  return `${trimmed}/`;
}

function isNotFound(error: unknown): boolean {
  // NoSuchBucket is a 404 as well, and must not read as "no such image".
  return error instanceof NoSuchKey || (error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound'));
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}
