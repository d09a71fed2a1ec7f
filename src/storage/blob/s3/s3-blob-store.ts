// Images in an S3-compatible bucket (AWS S3, Cloudflare R2, MinIO, Aliyun OSS, Tencent COS): every
// replica reads and writes the same objects, so a result stored by one is served by any other.
//
// Atomicity comes from S3 itself: "Amazon S3 never adds partial objects; if you receive a success
// response, Amazon S3 added the entire object to the bucket" and "If Amazon S3 receives multiple write
// requests for the same object simultaneously, it overwrites all but the last object written"
// (AWS, Amazon S3 User Guide, "Amazon S3 data consistency model"). A large image goes up as a
// multipart upload, which is invisible until CompleteMultipartUpload; a failed or interrupted one is
// aborted (lib-storage's `leavePartsOnError: false`), so neither an object nor stray parts remain.

import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
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
import { contentEtag } from '../content-etag.js';
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

/** What one GET answered: the bytes, and for a ranged GET where they sit in the whole object. */
interface ObjectRead {
  data: Buffer;
  contentType: string;
  /** The sha256 written with the object, or of the bytes read when none was (whole reads only). */
  etag: string;
  /** Whether the object carries the hash written with it. */
  hashed: boolean;
  createdAt: number;
  /** Set when the service answered 206: the inclusive span of the bytes and the whole object's size. */
  part?: { start: number; end: number; size: number };
}

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

  async put(key: string, data: Buffer, contentType: string): Promise<void> {
    const objectKey = this.#objectKey(key);
    // Written with the object, so a read can tell its bytes are whole; hashed off the event loop.
    const etag = await contentEtag(data);
    const request = { Bucket: this.#bucket, Key: objectKey, Body: data, ContentType: contentType, Metadata: { [hashMetadata]: etag } };
    if (data.length <= this.#partSize) {
      // One PUT: atomic, and cheaper than lib-storage's machinery for the common, small image.
      await this.#client.send(new PutObjectCommand({ ...request, ContentLength: data.length }));
    } else {
      await new Upload({ client: this.#client, params: request, partSize: this.#partSize, queueSize: 4, leavePartsOnError: false }).done();
    }
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    const read = await this.#read(this.#objectKey(key));
    if (read === undefined || read === 'unsatisfiable') return undefined;
    const { data, contentType, etag, createdAt } = read;
    return { data, contentType, size: data.length, etag, createdAt };
  }

  /**
   * Asks S3 for the range alone (GetObject with `Range`): one response carries the bytes, the whole
   * object's size (Content-Range) and the hash written with it (metadata), so all three are of one
   * version and the rest of the object is never transferred.
   */
  async getRange(key: string, range: BlobRangeRequest): Promise<StoredBlobRange | { unsatisfiable: true; size: number } | undefined> {
    const objectKey = this.#objectKey(key);
    // `bytes=-0` is not a range S3 accepts; it is unsatisfiable whatever the object holds.
    if ('suffixLength' in range && range.suffixLength <= 0) return this.#unsatisfiable(objectKey);
    const header = 'suffixLength' in range ? `bytes=-${range.suffixLength}` : `bytes=${range.start}-${range.end ?? ''}`;
    const read = await this.#read(objectKey, header);
    if (read === undefined) return undefined;
    if (read === 'unsatisfiable') return this.#unsatisfiable(objectKey);
    if (read.part === undefined || !read.hashed) {
      // A service that ignored the Range (200, the whole object, already checked against its hash), or an
      // object written without our hash, whose etag only the whole bytes give: cut from the whole.
      const whole = read.part === undefined ? read : await this.#read(objectKey);
      if (whole === undefined || whole === 'unsatisfiable') return undefined;
      const resolved = resolveBlobRange(range, whole.data.length);
      if (resolved === undefined) return { unsatisfiable: true, size: whole.data.length };
      const { start, end } = resolved;
      return { data: whole.data.subarray(start, end + 1), start, end, size: whole.data.length, contentType: whole.contentType, etag: whole.etag, createdAt: whole.createdAt };
    }
    const { start, end, size } = read.part;
    // An empty object answers its range with no bytes (or 416): nothing in it is satisfiable.
    if (start >= size) return { unsatisfiable: true, size };
    return { data: read.data, start, end, size, contentType: read.contentType, etag: read.etag, createdAt: read.createdAt };
  }

  /**
   * One GET of the object, or of `range` of it. The bytes are checked against what was written: the
   * whole object against its recorded hash, a part against the length its Content-Range announces. A
   * service weaker than S3 (or a proxy that cut the body) could hand over a torn object, and a partial
   * image is never served: a read that fails the check is made again.
   */
  async #read(objectKey: string, range?: string): Promise<ObjectRead | 'unsatisfiable' | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      let response;
      try {
        response = await this.#client.send(new GetObjectCommand({ Bucket: this.#bucket, Key: objectKey, ...(range === undefined ? {} : { Range: range }) }));
      } catch (error) {
        if (isNotFound(error)) return undefined;
        if (range !== undefined && isInvalidRange(error)) return 'unsatisfiable';
        throw error;
      }
      const data = Buffer.from((await response.Body?.transformToByteArray()) ?? new Uint8Array());
      const written = response.Metadata?.[hashMetadata];
      const part = response.$metadata.httpStatusCode === 206 ? parseContentRange(response.ContentRange) : undefined;
      // A whole object's hash, off the event loop: what it is checked against, or its etag when none was written.
      const actual = part === undefined ? await contentEtag(data) : undefined;
      const intact = part === undefined ? written === undefined || written === actual : part.start >= part.size || data.length === part.end - part.start + 1;
      if (!intact) {
        if (attempt >= readAttempts) throw new Error(`The object ${objectKey} did not match its recorded hash or length after ${readAttempts} reads`);
        await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt));
        continue;
      }
      return {
        data,
        contentType: response.ContentType ?? 'application/octet-stream',
        etag: written ?? actual ?? '',
        hashed: written !== undefined,
        createdAt: response.LastModified?.getTime() ?? Date.now(),
        ...(part === undefined ? {} : { part }),
      };
    }
  }

  /** A range S3 refused as unsatisfiable: the answer carries the object's size, asked of S3 once more. */
  async #unsatisfiable(objectKey: string): Promise<{ unsatisfiable: true; size: number } | undefined> {
    try {
      const head = await this.#client.send(new HeadObjectCommand({ Bucket: this.#bucket, Key: objectKey }));
      return { unsatisfiable: true, size: head.ContentLength ?? 0 };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
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

/** `bytes 100-199/5000` (RFC 9110 §14.4); undefined for anything else. */
function parseContentRange(header: string | undefined): { start: number; end: number; size: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header ?? '');
  if (!match) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), size: Number(match[3]) };
}

/** S3's 416 InvalidRange: the range starts past the object's end. */
function isInvalidRange(error: unknown): boolean {
  return error instanceof S3ServiceException && (error.name === 'InvalidRange' || error.$metadata.httpStatusCode === 416);
}

function isNotFound(error: unknown): boolean {
  // NoSuchBucket is a 404 as well, and must not read as "no such image".
  return error instanceof NoSuchKey || (error instanceof S3ServiceException && (error.name === 'NoSuchKey' || error.name === 'NotFound'));
}

