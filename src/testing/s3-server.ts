// An S3-compatible server for tests: s3rver on a free port over a temporary folder, talked to with the
// real AWS SDK. Two of S3's documented rules that s3rver 3.7 does not keep are added here, since the
// blob store's tests rely on them:
//
// - Atomic writes. "Amazon S3 never adds partial objects; if you receive a success response, Amazon S3
//   added the entire object to the bucket." and "If Amazon S3 receives multiple write requests for the
//   same object simultaneously, it overwrites all but the last object written." (Amazon S3 User Guide,
//   "Amazon S3 data consistency model"). s3rver writes into the object's file in place (a reader sees a
//   half-written file; two writers interleave), so objects are written to a temporary file and renamed.
// - AbortMultipartUpload: "This action aborts a multipart upload. After a multipart upload is aborted, no
//   additional parts can be uploaded using that upload ID. The storage consumed by any previously
//   uploaded parts will be freed." `DELETE /{Key+}?uploadId=UploadId` answers 204 (Amazon S3 API
//   Reference, AbortMultipartUpload). s3rver answers 405; here the upload's parts are removed.
// - Suffix ranges. GetObject takes any HTTP Range (RFC 9110), `bytes=-500` being the last 500 bytes
//   (Amazon S3 API Reference, GetObject: "Range — Downloads the specified byte range of an object").
//   s3rver reads `bytes=-500` as `bytes=0-500`; here the store reads the range the suffix names.

import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { S3Client, CreateBucketCommand } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import FilesystemStore from 's3rver/lib/stores/filesystem.js';

export interface TestS3Server {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** A client for the test's own checks (path-style, as the store is configured). */
  client: S3Client;
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(): Promise<string[]>;
  close(): Promise<void>;
}

/** s3rver accepts exactly these ("S3RVER" / "S3RVER", its README). */
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

/** The suffix length of the GET being served, when its Range is `bytes=-N`. */
const suffixRange = new AsyncLocalStorage<number>();

/** One write or read of a key at a time, in the order asked, so a write's rename never races another's. */
class KeyLocks {
  readonly #tails = new Map<string, Promise<unknown>>();
  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const result = previous.then(work, work);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

class AtomicFilesystemStore extends FilesystemStore {
  readonly #locks = new KeyLocks();

  override putObject(object: Parameters<FilesystemStore['putObject']>[0]) {
    return this.#locks.run(`${object.bucket}/${object.key}`, async () => {
      const target = this.getResourcePath(object.bucket, object.key, 'object');
      const temporaryFolder = join(this.rootDirectory, '.writes');
      await mkdir(temporaryFolder, { recursive: true });
      await mkdir(dirname(target), { recursive: true });
      const temporary = join(temporaryFolder, randomBytes(8).toString('hex'));
      const md5 = createHash('md5');
      let size = 0;
      const content = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : (object.content ?? Readable.from([]));
      await pipeline(
        content,
        new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            md5.update(chunk);
            size += chunk.length;
            callback(null, chunk);
          },
        }),
        createWriteStream(temporary),
      );
      const digest = md5.digest('hex');
      // Metadata first, bytes last: a reader between the two sees the old bytes with the new hash,
      // which the blob store's hash check rejects and reads again; never new bytes with old metadata.
      await this.putMetadata(object.bucket, object.key, object.metadata, digest);
      await rename(temporary, target);
      return { size, md5: digest };
    });
  }

  override getObject(bucket: string, key: string, options?: unknown) {
    // The stream is opened inside the lock: a rename afterwards leaves this reader on the old file.
    return this.#locks.run(`${bucket}/${key}`, async () => {
      const suffix = suffixRange.getStore();
      if (suffix === undefined) return super.getObject(bucket, key, options);
      const size = Number((await this.getMetadata(bucket, key).catch(() => undefined))?.['content-length']);
      // s3rver's own answers for an empty object or a missing key stand.
      const explicit = size > 0 && suffix > 0 ? { start: Math.max(0, size - suffix), end: size - 1 } : options;
      return super.getObject(bucket, key, explicit);
    });
  }

  override deleteObject(bucket: string, key: string) {
    return this.#locks.run(`${bucket}/${key}`, () => super.deleteObject(bucket, key));
  }
}

export async function startTestS3Server(bucket = 'imagegate-test'): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'imagegate-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
  const store = new AtomicFilesystemStore(directory);
  server.store = store;
  server.context.store = store;
  const uploadsFolder = store.getResourcePath(bucket, undefined, 'uploads');
  server.middleware.unshift(async (context, next) => {
    const uploadId = context.query.uploadId;
    if (context.method !== 'DELETE' || typeof uploadId !== 'string' || !/^[A-Za-z0-9_-]+$/.test(uploadId)) return next();
    await rm(join(uploadsFolder, uploadId), { recursive: true, force: true });
    context.status = 204;
    context.body = null;
  });
  // Suffix ranges: the header is left as signed; the store reads the suffix from the request's context.
  server.middleware.unshift((context, next) => {
    const suffix = /^bytes=-(\d+)$/.exec(context.get('range'));
    return suffix ? suffixRange.run(Number(suffix[1]), next) : next();
  });
  const address = await server.run();
  const endpoint = `http://127.0.0.1:${address.port}`;
  const region = 'us-east-1';
  const client = new S3Client({ endpoint, region, forcePathStyle: true, credentials });
  // configureBuckets ran already; creating again is a harmless check that the server answers.
  await client.send(new CreateBucketCommand({ Bucket: bucket })).catch(() => undefined);
  return {
    endpoint,
    bucket,
    region,
    credentials,
    client,
    async pendingUploads() {
      return readdir(uploadsFolder).catch(() => []);
    },
    async close() {
      client.destroy();
      server.httpServer.closeAllConnections();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
