// Webhooks over real HTTP: the final task object POSTed to the callback URL, signed per Standard
// Webhooks (checked by a verifier written here from the spec, not the gateway's own code), retried
// with backoff when the receiver fails, every attempt visible on the task; private addresses refused.

import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, testApiKey, type TestGateway } from '../../src/testing/gateway-harness.js';
import { call, sleep, waitForTask } from './task-helpers.js';

const gatewaySecret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  at: number;
}

interface Receiver {
  url: string;
  received: Received[];
  /** Status codes to answer, in order; 200 once they run out. */
  script: Map<string, number[]>;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const script = new Map<string, number[]>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const path = request.url ?? '/';
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() });
      const status = script.get(path)?.shift() ?? 200;
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    script,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * An independent Standard Webhooks verifier, from the spec: the signed content is
 * `${webhook-id}.${webhook-timestamp}.${body}`, HMAC-SHA256 keyed by the base64-decoded part of the
 * secret after `whsec_`, sent base64-encoded as `v1,<signature>` (several may be space-separated).
 */
function verify(secret: string, headers: IncomingHttpHeaders, body: string): boolean {
  const id = String(headers['webhook-id'] ?? '');
  const timestamp = String(headers['webhook-timestamp'] ?? '');
  const signatures = String(headers['webhook-signature'] ?? '').split(' ');
  if (!id || !/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest();
  return signatures.some((entry) => {
    const [version, signature] = entry.split(',');
    if (version !== 'v1' || signature === undefined) return false;
    const given = Buffer.from(signature, 'base64');
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

async function waitForCalls(receiver: Receiver, path: string, count: number, timeoutMs = 10_000): Promise<Received[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const calls = receiver.received.filter((entry) => entry.path === path);
    if (calls.length >= count) return calls;
    if (Date.now() > deadline) throw new Error(`${path} received ${calls.length} of ${count} calls`);
    await sleep(20);
  }
}

async function waitForWebhookStatus(gateway: TestGateway, taskId: string, status: string): Promise<{ webhook: { status: string; attempts: Array<{ status_code: number | null; error: string | null }> } }> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const task = (await call(gateway.url, `/v1/images/tasks/${taskId}`, { key: testApiKey })).body;
    if (task.webhook?.status === status) return task;
    if (Date.now() > deadline) throw new Error(`webhook of ${taskId} is ${JSON.stringify(task.webhook)}`);
    await sleep(25);
  }
}

let receiver: Receiver;
let gateway: TestGateway;

beforeAll(async () => {
  receiver = await startReceiver();
  gateway = await startTestGateway({
    webhooks: { secret: gatewaySecret, maxAttempts: 3, retryBaseMs: 100 },
    tasks: { workers: 2, leaseMs: 3000, retentionHours: 24, maxQueued: 100, syncTimeoutMs: 60_000 },
  });
});
afterAll(async () => {
  await gateway.close();
  await receiver.close();
});

describe('webhooks', () => {
  it('delivers the final task object, signed, retrying after two failures with growing delays; attempts show on the task', async () => {
    receiver.script.set('/retry', [500, 500]);
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', {
      key: testApiKey,
      json: { model: 'dall-e-2', prompt: 'a signed lighthouse', size: '256x256', callback_url: `${receiver.url}/retry` },
    });
    expect(submitted.status).toBe(202);
    const calls = await waitForCalls(receiver, '/retry', 3);
    const task = await waitForWebhookStatus(gateway, submitted.body.id, 'delivered');

    for (const entry of calls) {
      expect(verify(gatewaySecret, entry.headers, entry.body)).toBe(true);
      expect(verify('whsec_' + Buffer.from('a different secret!').toString('base64'), entry.headers, entry.body)).toBe(false);
      expect(verify(gatewaySecret, entry.headers, entry.body.replace('succeeded', 'failed'))).toBe(false);
      expect(entry.headers['content-type']).toBe('application/json');
    }
    // One message: the same webhook-id on every attempt, so receivers can deduplicate.
    expect(new Set(calls.map((entry) => entry.headers['webhook-id'])).size).toBe(1);
    expect(String(calls[0]?.headers['webhook-id'])).toMatch(/^msg_/);
    // Exponential backoff: the second wait is longer than the first.
    const [first, second, third] = calls.map((entry) => entry.at);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(90);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(190);

    const delivered = JSON.parse(calls[2]?.body ?? '{}');
    expect(delivered).toMatchObject({ id: submitted.body.id, object: 'image.task', status: 'succeeded', error: null });
    expect(delivered.result.data[0].url).toMatch(/\/v1\/files\/images\//);
    expect(task.webhook.attempts.map((attempt) => attempt.status_code)).toEqual([500, 500, 200]);
    expect(task.webhook.attempts[0]?.error).toContain('500');
    expect(task.webhook.attempts[2]?.error).toBeNull();
  });

  it("signs with the client's own webhook_secret, and accepts webhook_url as an alias", async () => {
    const own = 'whsec_' + Buffer.from('the client chose this secret').toString('base64');
    const submitted = await call(gateway.url, '/v1/images/generations', {
      key: testApiKey,
      json: { model: 'dall-e-2', prompt: 'own secret', size: '256x256', async: true, webhook_url: `${receiver.url}/own`, webhook_secret: own },
    });
    const [entry] = await waitForCalls(receiver, '/own', 1);
    expect(verify(own, entry?.headers ?? {}, entry?.body ?? '')).toBe(true);
    expect(verify(gatewaySecret, entry?.headers ?? {}, entry?.body ?? '')).toBe(false);
    await waitForWebhookStatus(gateway, submitted.body.id, 'delivered');
  });

  it('gives up after max_attempts and says so on the task', async () => {
    receiver.script.set('/down', [503, 503, 503, 503]);
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', {
      key: testApiKey,
      json: { model: 'dall-e-2', prompt: 'nobody listens', size: '256x256', callback_url: `${receiver.url}/down` },
    });
    const task = await waitForWebhookStatus(gateway, submitted.body.id, 'failed');
    expect(task.webhook.attempts.map((attempt) => attempt.status_code)).toEqual([503, 503, 503]);
    await sleep(400);
    expect(receiver.received.filter((entry) => entry.path === '/down')).toHaveLength(3);
  });

  it('delivers a canceled task too', async () => {
    const slow = await startTestGateway({
      offlineLatencyMs: 5000,
      webhooks: { secret: gatewaySecret, maxAttempts: 3, retryBaseMs: 100 },
      tasks: { workers: 1, leaseMs: 3000, retentionHours: 24, maxQueued: 100, syncTimeoutMs: 60_000 },
    });
    try {
      const submitted = await call(slow.url, '/v1/images/generations?async=true', {
        key: testApiKey,
        json: { model: 'dall-e-2', prompt: 'never mind', size: '256x256', callback_url: `${receiver.url}/canceled` },
      });
      await call(slow.url, `/v1/images/tasks/${submitted.body.id}/cancel`, { key: testApiKey, method: 'POST' });
      const [entry] = await waitForCalls(receiver, '/canceled', 1);
      expect(verify(gatewaySecret, entry?.headers ?? {}, entry?.body ?? '')).toBe(true);
      expect(JSON.parse(entry?.body ?? '{}')).toMatchObject({ id: submitted.body.id, status: 'canceled', result: null });
    } finally {
      await slow.close();
    }
  });

  it('refuses callback URLs on private or local addresses when private networks are not allowed', async () => {
    const guarded = await startTestGateway({ allowPrivateNetworks: false });
    try {
      for (const url of [`${receiver.url}/private`, 'http://10.1.2.3/hook', 'http://localhost:9/hook', 'http://[::1]:9/hook', 'http://169.254.169.254/latest', 'ftp://example.com/x']) {
        const response = await call(guarded.url, '/v1/images/generations?async=true', {
          key: testApiKey,
          json: { model: 'dall-e-2', prompt: 'x', size: '256x256', callback_url: url },
        });
        expect(response.status, url).toBe(400);
        expect(response.body.error).toMatchObject({ code: 'invalid_value', param: 'callback_url' });
      }
      const tasks = await call(guarded.url, '/v1/images/tasks', { key: testApiKey });
      expect(tasks.body.data).toEqual([]);
    } finally {
      await guarded.close();
    }
    expect(receiver.received.filter((entry) => entry.path === '/private')).toHaveLength(0);
  });

  it('rejects a webhook_secret that is not whsec_ base64', async () => {
    const response = await call(gateway.url, '/v1/images/generations?async=true', {
      key: testApiKey,
      json: { model: 'dall-e-2', prompt: 'x', size: '256x256', callback_url: `${receiver.url}/x`, webhook_secret: 'hunter2' },
    });
    expect(response.status).toBe(400);
    expect(response.body.error.param).toBe('webhook_secret');
  });

  it('has a task with no callback show no webhook field', async () => {
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-2', prompt: 'quiet', size: '256x256' } });
    const done = await waitForTask(gateway.url, testApiKey, submitted.body.id);
    expect(done.webhook).toBeUndefined();
  });
});
