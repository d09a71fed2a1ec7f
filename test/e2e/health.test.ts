// GET /healthz and GET /readyz over real HTTP: alive and ready without a key, and not ready (503,
// OpenAI's error shape) while the image storage cannot be written.

import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';

let gateway: TestGateway;

beforeAll(async () => {
  gateway = await startTestGateway();
});
afterAll(async () => gateway.close());

describe('health endpoints', () => {
  it('answers /healthz with 200 and no key', async () => {
    const response = await fetch(`${gateway.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz with 200 when the database and storage work', async () => {
    const response = await fetch(`${gateway.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready' });
  });

  it('answers /readyz with 503 while the blobs directory is not a directory, and 200 once it is back', async () => {
    const blobs = join(gateway.dataDir, 'blobs');
    const aside = join(gateway.dataDir, 'blobs-aside');
    // Tests run as root, which permissions do not stop: a regular file in the directory's place does.
    await rename(blobs, aside).catch(() => undefined);
    await writeFile(blobs, 'not a directory');
    try {
      const response = await fetch(`${gateway.url}/readyz`);
      expect(response.status).toBe(503);
      const body = (await response.json()) as { error: Record<string, unknown> };
      expect(body.error).toEqual({ message: expect.stringMatching(/^Not ready/), type: 'server_error', param: null, code: 'service_unavailable' });
      // The reason stays in the log: no path of the machine goes to the client.
      expect(JSON.stringify(body)).not.toContain(gateway.dataDir);
      // Liveness is another question: the process still answers.
      expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200);
    } finally {
      await rm(blobs, { force: true });
      await rename(aside, blobs).catch(() => undefined);
    }
    expect((await fetch(`${gateway.url}/readyz`)).status).toBe(200);
  });

  it('answers an unknown path with 404 in OpenAI shape', async () => {
    const response = await fetch(`${gateway.url}/v1/nothing-here`);
    expect(response.status).toBe(404);
    expect(((await response.json()) as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'not_found',
      message: 'Unknown request URL: GET /v1/nothing-here.',
    });
  });
});
