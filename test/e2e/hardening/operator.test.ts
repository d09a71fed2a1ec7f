// Issue 9, money bounds and operator-facing defects (items 13, 14, 16, 17): what an operator and
// the clients of a configured gateway see.

import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../../../src/testing/gateway-harness.js';
import { admin, call, createKey, generate, startBillingGateway } from '../billing-support.js';

describe('item 13: every money amount is bounded, so the books stay exact integers', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startBillingGateway();
  });
  afterAll(async () => gateway.close());

  it('refuses a top-up above $1,000,000,000 and one that would carry the balance past it, with a 400; the balance is untouched', async () => {
    const { id } = await createKey(gateway, { quota: 0 });
    const huge = await admin(gateway, 'POST', `/keys/${id}/topup`, { amount: Number.MAX_SAFE_INTEGER });
    expect([huge.status, huge.body.error.param]).toEqual([400, 'amount']);
    const hugeUsd = await admin(gateway, 'POST', `/keys/${id}/topup`, { amount_usd: '9007199254' });
    expect([hugeUsd.status, hugeUsd.body.error.param]).toEqual([400, 'amount_usd']);

    expect((await admin(gateway, 'POST', `/keys/${id}/topup`, { amount: 600_000_000_000_000 })).status).toBe(200);
    const past = await admin(gateway, 'POST', `/keys/${id}/topup`, { amount: 600_000_000_000_000 });
    expect([past.status, past.body.error.code, past.body.error.param]).toEqual([400, 'invalid_value', 'amount']);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(600_000_000_000_000);
  });

  it('refuses a quota and a price above the bounds', async () => {
    const quota = await admin(gateway, 'POST', '/keys', { name: 'too rich', quota: 2 ** 53 - 1 });
    expect([quota.status, quota.body.error.param]).toEqual([400, 'quota']);
    const price = await admin(gateway, 'PUT', '/prices/dall-e-2', { per_image: '2000000' });
    expect(price.status).toBe(400);
    expect(price.body.error.message).toMatch(/largest unit price/);
    const multiplier = await admin(gateway, 'PUT', '/price-groups/greedy', { multiplier: '999999999' });
    expect(multiplier.status).toBe(400);
  });
});

describe('item 14: once channels are configured, only what they route is served and listed', () => {
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startBillingGateway({ channels: [{ name: 'local', provider: 'offline', models: ['dall-e-2', 'gpt-image-1'] }] });
  });
  afterAll(async () => gateway.close());

  it('an unrouted model answers 404 model_not_available and charges nothing', async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1' });
    const response = await generate(gateway, secret, { model: 'flux-kontext-pro' });
    expect(response.status).toBe(404);
    expect(response.headers.get('x-request-id')).toBeTruthy();
    expect(response.body).toEqual({
      error: { message: "The model 'flux-kontext-pro' is not available on this gateway: no channel serves it.", type: 'invalid_request_error', param: 'model', code: 'model_not_available' },
    });
    const queued = await call(`${gateway.url}/v1/images/generations?async=true`, { token: secret, body: { model: 'flux-kontext-pro', prompt: 'x' } });
    expect(queued.status).toBe(404);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(1_000_000);
    // The offline channel named for dall-e-2 serves it.
    expect((await generate(gateway, secret, { model: 'dall-e-2', size: '256x256', response_format: 'b64_json' })).status).toBe(200);
  });

  it('/v1/models lists only the routed models this key may use', async () => {
    const everything = await createKey(gateway, { unlimited: true });
    const listed = await call(`${gateway.url}/v1/models`, { token: everything.secret });
    expect(listed.body.data.map((model: { id: string }) => model.id).sort()).toEqual(['dall-e-2', 'gpt-image-1']);
    const restricted = await createKey(gateway, { unlimited: true, allowed_models: ['gpt-image-1', 'flux-dev'] });
    const narrow = await call(`${gateway.url}/v1/models`, { token: restricted.secret });
    expect(narrow.body.data.map((model: { id: string }) => model.id)).toEqual(['gpt-image-1']);
    expect((await call(`${gateway.url}/v1/models/dall-e-2`, { token: restricted.secret })).status).toBe(404);
    expect((await call(`${gateway.url}/v1/models/flux-dev`, { token: everything.secret })).status).toBe(404);
  });

  it('a gateway with no channels at all still serves every catalog model offline (the quick start)', async () => {
    const plain = await startTestGateway();
    try {
      const models = await call(`${plain.url}/v1/models`, { token: plain.apiKey });
      expect(models.body.data.length).toBeGreaterThanOrEqual(20);
      const flux = await call(`${plain.url}/v1/images/generations`, { token: plain.apiKey, body: { model: 'flux-kontext-pro', prompt: 'x', response_format: 'b64_json' } });
      expect([flux.status, flux.headers.get('x-imagegate-provider')]).toEqual([200, 'offline']);
    } finally {
      await plain.close();
    }
  });
});

describe('item 16: the data dir and database are private, upstream keys encrypted at rest', () => {
  const upstreamKey = 'sk-upstream-secret-do-not-store-0123456789';
  let gateway: TestGateway;
  beforeAll(async () => {
    gateway = await startTestGateway({ channels: [{ name: 'relay', provider: 'openai', base_url: 'https://relay.example.com/v1', api_key: upstreamKey, models: ['dall-e-3'] }] });
  });
  afterAll(async () => gateway.close());

  it('creates the data dir 0700 and the database, -wal, -shm and key files 0600', async () => {
    expect((await stat(gateway.dataDir)).mode & 0o777).toBe(0o700);
    for (const name of ['imagegate.sqlite', 'imagegate.sqlite-wal', 'imagegate.sqlite-shm', 'signing.key', 'secrets.key']) {
      expect([name, (await stat(join(gateway.dataDir, name))).mode & 0o777]).toEqual([name, 0o600]);
    }
  });

  it('stores the upstream key encrypted (AES-256-GCM), never in clear, and still uses it', async () => {
    const db = new Database(join(gateway.dataDir, 'imagegate.sqlite'), { readonly: true });
    try {
      const row = db.prepare('SELECT api_keys FROM channels WHERE name = ?').get('relay') as { api_keys: string };
      expect(row.api_keys).toMatch(/^enc:v1:[A-Za-z0-9_-]+$/);
      expect(row.api_keys).not.toContain(upstreamKey);
    } finally {
      db.close();
    }
    const files = await Promise.all(['imagegate.sqlite', 'imagegate.sqlite-wal'].map((name) => readFile(join(gateway.dataDir, name)).catch(() => Buffer.alloc(0))));
    expect(files.some((bytes) => bytes.includes(upstreamKey))).toBe(false);
    // The router presents the key it decrypted.
    expect(gateway.gateway.router.get('relay')?.api_keys).toEqual(['sk-…6789']);
  });
});

describe('item 17: server.trust_proxy decides whose X-Forwarded-For names the client', () => {
  const forwardedFrom = (gateway: TestGateway, secret: string, address: string) =>
    call(`${gateway.url}/v1/models`, { token: secret, headers: { 'x-forwarded-for': address } });

  it('off by default: a forged X-Forwarded-For does not pass an IP allowlist', async () => {
    const gateway = await startBillingGateway();
    try {
      const { secret } = await createKey(gateway, { unlimited: true, ip_allowlist: ['203.0.113.0/24'] });
      expect((await forwardedFrom(gateway, secret, '203.0.113.9')).status).toBe(403);
    } finally {
      await gateway.close();
    }
  });

  it('with the proxy listed, the client address behind it is what the allowlist sees', async () => {
    const gateway = await startBillingGateway({ trustProxy: ['127.0.0.1/32', '::1'] });
    try {
      const { secret } = await createKey(gateway, { unlimited: true, ip_allowlist: ['203.0.113.0/24'] });
      expect((await forwardedFrom(gateway, secret, '203.0.113.9')).status).toBe(200);
      const outside = await forwardedFrom(gateway, secret, '198.51.100.7');
      expect(outside.status).toBe(403);
      expect(outside.body.error.message).toContain('198.51.100.7');
    } finally {
      await gateway.close();
    }
  });
});
