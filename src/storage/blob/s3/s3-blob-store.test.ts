// S3BlobStore: the shared BlobStore conformance suite against an S3-compatible server (s3rver) through
// the real AWS SDK, plus what only an object store shows: multipart uploads, aborts that leave nothing,
// presigned URLs and the key prefix that confines retention.

import { createHash, randomUUID } from 'node:crypto';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeBlobStoreConformance } from '../../../testing/conformance/blob-store.conformance.js';
import { startTestS3Server, type TestS3Server } from '../../../testing/s3-server.js';
import { minimumPartSizeBytes, S3BlobStore } from './s3-blob-store.js';

let server: TestS3Server;
beforeAll(async () => {
  server = await startTestS3Server();
});
afterAll(async () => {
  await server?.close();
});

function storeOn(prefix: string, extra: Partial<ConstructorParameters<typeof S3BlobStore>[0]> = {}): S3BlobStore {
  return new S3BlobStore({
    endpoint: server.endpoint,
    region: server.region,
    bucket: server.bucket,
    forcePathStyle: true,
    credentials: server.credentials,
    prefix,
    ...extra,
  });
}

async function keysUnder(prefix: string): Promise<string[]> {
  const page = await server.client.send(new ListObjectsV2Command({ Bucket: server.bucket, Prefix: prefix }));
  return (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key])).sort();
}

describeBlobStoreConformance('S3BlobStore (s3rver)', async () => {
  const prefix = `conformance-${randomUUID()}`;
  const store = storeOn(prefix);
  return {
    store,
    cleanup: async () => {
      await store.deleteOlderThan(Date.now() + 3_600_000);
      store.close();
    },
  };
});

describe('S3BlobStore on an object store', () => {
  it('keeps objects under its prefix, with the sha256 etag as user metadata', async () => {
    const prefix = `layout-${randomUUID()}`;
    const store = storeOn(`${prefix}/`);
    await store.put('images/2026/12/03/one.png', Buffer.from('png bytes'), 'image/png');
    const etag = createHash('sha256').update('png bytes').digest('hex');
    expect(await keysUnder(prefix)).toEqual([`${prefix}/images/2026/12/03/one.png`]);
    const raw = await server.client.send(new GetObjectCommand({ Bucket: server.bucket, Key: `${prefix}/images/2026/12/03/one.png` }));
    expect(raw.ContentType).toBe('image/png');
    expect(raw.Metadata?.sha256).toBe(etag);
    store.close();
  });

  it('uploads an object larger than the part size as a multipart upload and reads it back whole', { timeout: 60_000 }, async () => {
    const store = storeOn(`multipart-${randomUUID()}`, { partSizeBytes: minimumPartSizeBytes });
    const large = Buffer.alloc(minimumPartSizeBytes * 2 + 12_345);
    for (let index = 0; index < large.length; index += 4096) large[index] = (index / 4096) % 251;
    await store.put('large/image.png', large, 'image/png');
    const blob = await store.get('large/image.png');
    expect(blob?.size).toBe(large.length);
    expect(blob?.data.equals(large)).toBe(true);
    expect(await server.pendingUploads()).toEqual([]);
    store.close();
  });

  it('leaves neither an object nor parts behind when a multipart upload fails mid-way', { timeout: 60_000 }, async () => {
    const prefix = `abort-${randomUUID()}`;
    const store = storeOn(prefix, { partSizeBytes: minimumPartSizeBytes });
    const large = Buffer.alloc(minimumPartSizeBytes * 3, 7);
    // The link breaks after the first part: the upload fails and must be aborted.
    let parts = 0;
    const broken = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials, maxAttempts: 1 });
    broken.middlewareStack.add(
      (next, context) => async (arguments_) => {
        if (context.commandName === 'UploadPartCommand' && (parts += 1) > 1) throw new Error('connection reset while uploading a part');
        return next(arguments_);
      },
      { step: 'initialize', name: 'failSecondPart' },
    );
    const storeWithBrokenLink = new S3BlobStore({ bucket: server.bucket, region: server.region, prefix, client: broken, partSizeBytes: minimumPartSizeBytes });
    await expect(storeWithBrokenLink.put('large/broken.png', large, 'image/png')).rejects.toThrow(/connection reset/);
    expect(await store.get('large/broken.png')).toBeUndefined();
    expect(await keysUnder(prefix)).toEqual([]);
    expect(await server.pendingUploads()).toEqual([]);
    broken.destroy();
    store.close();
  });

  it('asks S3 for the range alone: the GET carries Range and only those bytes come back', async () => {
    const prefix = `ranged-${randomUUID()}`;
    const seen: Array<{ command: string; range: string | undefined; status: number | undefined; length: string | undefined; contentRange: string | undefined }> = [];
    const watched = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true, credentials: server.credentials });
    watched.middlewareStack.add(
      (next, context) => async (arguments_) => {
        const range = (arguments_.request as { headers: Record<string, string> }).headers.range;
        try {
          const result = await next(arguments_);
          const response = result.response as { statusCode?: number; headers: Record<string, string> };
          seen.push({ command: String(context.commandName), range, status: response.statusCode, length: response.headers['content-length'], contentRange: response.headers['content-range'] });
          return result;
        } catch (error) {
          seen.push({ command: String(context.commandName), range, status: (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode, length: undefined, contentRange: undefined });
          throw error;
        }
      },
      { step: 'finalizeRequest', name: 'watchRanges' },
    );
    const store = new S3BlobStore({ bucket: server.bucket, region: server.region, prefix, client: watched });
    const data = Buffer.alloc(1024 * 1024);
    for (let index = 0; index < data.length; index += 1) data[index] = (index * 31) % 251;
    await store.put('big/one.png', data, 'image/png');
    const etag = createHash('sha256').update(data).digest('hex');

    seen.length = 0;
    const part = await store.getRange('big/one.png', { start: 500_000, end: 500_009 });
    expect(part).toMatchObject({ start: 500_000, end: 500_009, size: data.length, etag, contentType: 'image/png' });
    expect(part && 'data' in part && part.data.equals(data.subarray(500_000, 500_010))).toBe(true);
    expect(seen).toEqual([{ command: 'GetObjectCommand', range: 'bytes=500000-500009', status: 206, length: '10', contentRange: `bytes 500000-500009/${data.length}` }]);

    seen.length = 0;
    const tail = await store.getRange('big/one.png', { suffixLength: 100 });
    expect(tail && 'data' in tail && tail.data.equals(data.subarray(data.length - 100))).toBe(true);
    expect(seen.map((entry) => [entry.range, entry.status, entry.length])).toEqual([['bytes=-100', 206, '100']]);

    // Past the end: S3's 416, then the size from a HEAD; no body is read.
    seen.length = 0;
    expect(await store.getRange('big/one.png', { start: data.length })).toEqual({ unsatisfiable: true, size: data.length });
    expect(seen.map((entry) => [entry.command, entry.status])).toEqual([
      ['GetObjectCommand', 416],
      ['HeadObjectCommand', 200],
    ]);
    store.close();
    watched.destroy();
  });

  it('hands out a presigned GET with the requested expiry that serves the bytes without credentials', async () => {
    const store = storeOn(`presigned-${randomUUID()}`);
    const data = Buffer.from('presigned image bytes');
    await store.put('images/p.png', data, 'image/png');
    const url = await store.presignedUrl('images/p.png', 600);
    expect(url).toContain('X-Amz-Expires=600');
    expect(url).toContain('X-Amz-Signature=');
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true);
    // SigV4 query authentication: the credential names our key id, never the secret.
    expect(new URL(url).searchParams.get('X-Amz-Credential')).toMatch(/^S3RVER\//);
    expect(url).not.toContain(server.credentials.secretAccessKey + '&');
    store.close();
  });

  it('retention sweeps only its own prefix', async () => {
    const ours = `mine-${randomUUID()}`;
    const theirs = `theirs-${randomUUID()}`;
    const store = storeOn(ours);
    await store.put('a.png', Buffer.from('a'), 'image/png');
    await server.client.send(new PutObjectCommand({ Bucket: server.bucket, Key: `${theirs}/b.png`, Body: 'b' }));
    expect(await store.deleteOlderThan(Date.now() + 3_600_000)).toBe(1);
    expect(await keysUnder(ours)).toEqual([]);
    expect(await keysUnder(theirs)).toEqual([`${theirs}/b.png`]);
    store.close();
  });

  it('ping fails on a bucket that does not exist, and get does not mistake it for a missing image', async () => {
    const store = new S3BlobStore({ endpoint: server.endpoint, region: server.region, bucket: 'no-such-bucket', forcePathStyle: true, credentials: server.credentials });
    await expect(store.ping()).rejects.toThrow();
    await expect(store.get('images/x.png')).rejects.toThrow();
    store.close();
  });

  it('refuses a bad prefix', () => {
    expect(() => storeOn('../escape')).toThrow(/Invalid blob key/);
  });
});
