// A gateway whose images live in an S3-compatible bucket (s3rver, real AWS SDK), configured through
// the environment as an operator would: hosted results served by the gateway from the bucket, or
// handed out as the bucket's own presigned URLs with the same expiry; /readyz and start-up checks.

import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { startTestS3Server, type TestS3Server } from '../../src/testing/s3-server.js';
import { call, waitForTask } from './task-helpers.js';

let s3: TestS3Server;
beforeAll(async () => {
  s3 = await startTestS3Server();
});
afterAll(async () => {
  await s3?.close();
});

function s3Env(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    IMAGEGATE_S3_BUCKET: s3.bucket,
    IMAGEGATE_S3_ENDPOINT: s3.endpoint,
    IMAGEGATE_S3_REGION: s3.region,
    IMAGEGATE_S3_FORCE_PATH_STYLE: 'true',
    IMAGEGATE_S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    IMAGEGATE_S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    IMAGEGATE_S3_PREFIX: prefix,
    ...extra,
  };
}

async function objectsUnder(prefix: string): Promise<string[]> {
  const page = await s3.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${prefix}/` }));
  return (page.Contents ?? []).flatMap((object) => (object.Key === undefined ? [] : [object.Key]));
}

async function generate(gateway: TestGateway, path = '/v1/images/generations'): Promise<{ status: number; body: { data?: Array<{ url?: string }>; id?: string } }> {
  return call(gateway.url, path, { key: gateway.apiKey, json: { model: 'dall-e-2', prompt: 'a bucket of light', size: '256x256', response_format: 'url' } });
}

async function expectPng(url: string): Promise<void> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  const metadata = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
  expect([metadata.format, metadata.width, metadata.height]).toEqual(['png', 256, 256]);
}

describe('images in S3', () => {
  it('stores results in the bucket under the prefix and serves them through signed gateway URLs', async () => {
    const prefix = `gw-${randomUUID().slice(0, 8)}`;
    const gateway = await startTestGateway({}, { env: s3Env(prefix) });
    try {
      const response = await generate(gateway);
      expect(response.status).toBe(200);
      const url = response.body.data?.[0]?.url ?? '';
      expect(url.startsWith(`${gateway.url}/v1/files/`)).toBe(true);
      await expectPng(url);
      const stored = await objectsUnder(prefix);
      expect(stored).toHaveLength(1);
      expect(url).toContain(stored[0]?.slice(prefix.length + 1));
      expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('hands out the bucket’s presigned URLs with the configured expiry, for synchronous and task results', async () => {
    const prefix = `ps-${randomUUID().slice(0, 8)}`;
    const gateway = await startTestGateway({}, { env: s3Env(prefix, { IMAGEGATE_URL_MODE: 'presigned', IMAGEGATE_URL_TTL_SECONDS: '900' }) });
    try {
      const response = await generate(gateway);
      expect(response.status).toBe(200);
      const url = new URL(response.body.data?.[0]?.url ?? '');
      expect(url.origin).toBe(s3.endpoint);
      expect(url.pathname.startsWith(`/${s3.bucket}/${prefix}/`)).toBe(true);
      expect(url.searchParams.get('X-Amz-Expires')).toBe('900');
      await expectPng(url.toString());

      const submitted = await generate(gateway, '/v1/images/generations?async=true');
      expect(submitted.status).toBe(202);
      const task = await waitForTask(gateway.url, gateway.apiKey, submitted.body.id ?? '');
      const taskUrl = new URL((task.result as { data: Array<{ url: string }> }).data[0]?.url ?? '');
      expect(taskUrl.origin).toBe(s3.endpoint);
      await expectPng(taskUrl.toString());
    } finally {
      await gateway.close();
    }
  });

  it('refuses to start when the bucket cannot be written, naming it; presigned URLs need S3', async () => {
    const error = await startTestGateway({}, { env: { ...s3Env('x'), IMAGEGATE_S3_BUCKET: 'missing-bucket' } }).catch((caught: unknown) => caught);
    expect(String(error)).toMatch(/storage\.s3: cannot write to the bucket 'missing-bucket' at http:\/\/127\.0\.0\.1:\d+/);
    expect(String(error)).not.toContain(s3.credentials.secretAccessKey + ')');
    const local = await startTestGateway({}, { env: { IMAGEGATE_URL_MODE: 'presigned' } }).catch((caught: unknown) => caught);
    expect(String(local)).toMatch(/url_mode: presigned needs the images in S3/);
  });
});
