// The admin API over HTTP: its token, and every change applying to the very next request without
// a restart — keys (create, revoke, restrict, expire), quotas, prices, price groups, channels,
// request logs and usage.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { admin, call, cheapImage, cheapImageCredits, createKey, generate, startBillingGateway } from './billing-support.js';

describe('admin API authorization', () => {
  it('is switched off, saying so, when no admin token is configured', async () => {
    const gateway = await startBillingGateway({ adminToken: undefined });
    try {
      const answer = await admin(gateway, 'GET', '/keys');
      expect(answer.status).toBe(403);
      expect(answer.body.error).toMatchObject({ code: 'permission_denied' });
      expect(answer.body.error.message).toMatch(/IMAGEGATE_ADMIN_TOKEN/);
    } finally {
      await gateway.close();
    }
  });

  it('rejects a missing or wrong token with 401, and an API key is not an admin token', async () => {
    const gateway = await startBillingGateway();
    try {
      const missing = await call(`${gateway.url}/admin/v1/keys`);
      expect([missing.status, missing.body.error.code]).toEqual([401, 'invalid_api_key']);
      const wrong = await admin(gateway, 'GET', '/keys', undefined, 'not-the-admin-token');
      expect([wrong.status, wrong.body.error.message]).toEqual([401, 'Incorrect admin token provided.']);
      expect((await admin(gateway, 'GET', '/keys', undefined, gateway.apiKey)).status).toBe(401);
      expect((await admin(gateway, 'POST', '/keys', { name: 'x' }, 'nope')).status).toBe(401);
      expect((await admin(gateway, 'GET', '/keys')).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });
});

describe('admin API changes apply without a restart', () => {
  let gateway: TestGateway;
  let fake: OpenAIFake;

  beforeAll(async () => {
    // A relay that still serves DALL·E, whose flat prices these tests use.
    fake = await startOpenAIFake({ servesRetiredModels: true });
    gateway = await startBillingGateway({ allowHosts: ['127.0.0.1'] });
  });
  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('creates a key that works at once, shows its secret only once, and lists it without one', async () => {
    const created = await admin(gateway, 'POST', '/keys', { name: 'customer-1', quota_usd: '0.5', rate_limits: { requests_per_minute: 100 } });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^sk-[\w-]{40,}$/);
    expect(created.body).toMatchObject({ object: 'api_key', name: 'customer-1', enabled: true, unlimited: false, balance: 500_000, balance_usd: '0.5', price_group: 'default' });
    expect(created.body.rate_limits).toEqual({ requests_per_minute: 100, images_per_minute: null, concurrent_requests: null });
    expect((await generate(gateway, created.body.secret, cheapImage)).status).toBe(200);

    const listed = await admin(gateway, 'GET', '/keys');
    const entry = listed.body.data.find((key: { id: string }) => key.id === created.body.id);
    expect(entry).toMatchObject({ name: 'customer-1', balance: 500_000 - cheapImageCredits, prefix: created.body.secret.slice(0, 7) });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.secret);
    const one = await admin(gateway, 'GET', `/keys/${created.body.id}`);
    expect(one.body.secret).toBeUndefined();
    expect(one.body.account).toEqual({ balance: 500_000 - cheapImageCredits, granted: 500_000, charged: cheapImageCredits, held: 0 });
  });

  it('revokes a key: 401 on the very next request, and it cannot be enabled again', async () => {
    const { id, secret } = await createKey(gateway, { quota: 10 * cheapImageCredits });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    const revoked = await admin(gateway, 'POST', `/keys/${id}/revoke`);
    expect(revoked.body).toMatchObject({ enabled: false });
    expect(revoked.body.revoked_at).toEqual(expect.any(Number));
    const after = await generate(gateway, secret, cheapImage);
    expect([after.status, after.body.error.code]).toEqual([401, 'invalid_api_key']);
    const reenable = await admin(gateway, 'PATCH', `/keys/${id}`, { enabled: true });
    expect(reenable.status).toBe(409);
    expect((await call(`${gateway.url}/v1/models`, { token: secret })).status).toBe(401);
  });

  it('tops up a key that ran out, and the next request goes through', async () => {
    const { id, secret } = await createKey(gateway, {});
    const refused = await generate(gateway, secret, cheapImage);
    expect([refused.status, refused.body.error.code]).toEqual([429, 'insufficient_quota']);
    const topup = await admin(gateway, 'POST', `/keys/${id}/topup`, { amount_usd: '0.032', note: 'invoice 17' });
    expect(topup.body).toMatchObject({ added: 32_000, balance: 32_000, balance_usd: '0.032' });
    expect((await generate(gateway, secret, { ...cheapImage, n: 2 })).status).toBe(200);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(0);
    const bad = await admin(gateway, 'POST', `/keys/${id}/topup`, { amount: 1.5 });
    expect([bad.status, bad.body.error.param]).toEqual([400, 'amount']);
  });

  it('restricts a key to models (403 permission_denied) and to addresses (403), at once', async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1', allowed_models: ['dall-e-2'] });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    const other = await generate(gateway, secret, { model: 'dall-e-3' });
    expect([other.status, other.body.error.code, other.body.error.param]).toEqual([403, 'permission_denied', 'model']);
    expect(other.body.error.message).toMatch(/may use: dall-e-2/);

    await admin(gateway, 'PATCH', `/keys/${id}`, { ip_allowlist: ['10.0.0.0/8'] });
    const elsewhere = await generate(gateway, secret, cheapImage);
    expect([elsewhere.status, elsewhere.body.error.code]).toEqual([403, 'permission_denied']);
    await admin(gateway, 'PATCH', `/keys/${id}`, { ip_allowlist: ['127.0.0.0/8', '::1'], allowed_models: null });
    expect((await generate(gateway, secret, { model: 'dall-e-3', response_format: 'b64_json' })).status).toBe(200);

    const invalid = await admin(gateway, 'PATCH', `/keys/${id}`, { ip_allowlist: ['example.com'] });
    expect([invalid.status, invalid.body.error.param]).toEqual([400, 'ip_allowlist']);
    const unknownModel = await admin(gateway, 'PATCH', `/keys/${id}`, { allowed_models: ['dall-e-9'] });
    expect([unknownModel.status, unknownModel.body.error.param]).toEqual([400, 'allowed_models']);
    const unknownField = await admin(gateway, 'PATCH', `/keys/${id}`, { colour: 'red' });
    expect([unknownField.status, unknownField.body.error.code]).toEqual([400, 'unknown_parameter']);
  });

  it('refuses an expired key with 401', async () => {
    const { id, secret } = await createKey(gateway, { unlimited: true });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    await admin(gateway, 'PATCH', `/keys/${id}`, { expires_at: Math.floor(Date.now() / 1000) - 1 });
    const expired = await generate(gateway, secret, cheapImage);
    expect([expired.status, expired.body.error.code]).toEqual([401, 'invalid_api_key']);
    expect(expired.body.error.message).toMatch(/expired/);
  });

  it('sets a price: the next request pays it; resetting returns to the published price', async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1' });
    const set = await admin(gateway, 'PUT', '/prices/dall-e-2', { per_image: { '*': { '256x256': '0.05', '*': '0.07' } } });
    expect(set.status).toBe(200);
    expect((await admin(gateway, 'GET', '/prices/dall-e-2')).body.price).toEqual({ per_image: { '*': { '256x256': '0.05', '*': '0.07' } } });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(1_000_000 - 50_000);
    await admin(gateway, 'DELETE', '/prices/dall-e-2');
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(1_000_000 - 50_000 - cheapImageCredits);

    const bad = await admin(gateway, 'PUT', '/prices/dall-e-2', { per_image: 0.05 });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/per_image/);
    expect((await admin(gateway, 'PUT', '/prices/no-such-model', { per_image: '1' })).status).toBe(404);
    const list = await admin(gateway, 'GET', '/prices');
    expect(list.body.models['dall-e-3'].per_image.hd['1024x1792']).toBe('0.120');
    expect(list.body.credit_usd).toBe('0.000001');
  });

  it('charges keys of a price group its multiplier, and refuses a key in an unknown group', async () => {
    expect((await admin(gateway, 'PUT', '/price-groups/resellers', { multiplier: '0.5' })).status).toBe(200);
    const { id, secret } = await createKey(gateway, { quota_usd: '1', price_group: 'resellers' });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(1_000_000 - cheapImageCredits / 2);
    await admin(gateway, 'PUT', '/price-groups/resellers', { multiplier: '2' });
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await admin(gateway, 'GET', `/keys/${id}`)).body.balance).toBe(1_000_000 - cheapImageCredits / 2 - 2 * cheapImageCredits);
    const unknown = await admin(gateway, 'POST', '/keys', { name: 'x', price_group: 'nobody' });
    expect([unknown.status, unknown.body.error.param]).toEqual([400, 'price_group']);
  });

  it('creates, tests, disables and enables a channel; requests follow at once', async () => {
    const created = await admin(gateway, 'POST', '/channels', {
      name: 'openai-live',
      provider: 'openai',
      base_url: `${fake.url}/v1`,
      api_key: fake.apiKey,
      models: ['dall-e-3'],
      // A relay that still serves DALL·E 3 under its name, at its price.
      options: { serves_retired_models: true },
    });
    expect(created.status).toBe(201);
    expect((await admin(gateway, 'GET', '/channels')).body.data.map((channel: { name: string }) => channel.name)).toContain('openai-live');
    const tested = await admin(gateway, 'POST', '/channels/openai-live/test', {});
    expect(tested.body).toMatchObject({ ok: true, channel: 'openai-live', model: 'dall-e-3' });

    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const served = await generate(gateway, secret, { model: 'dall-e-3', response_format: 'b64_json' });
    expect([served.status, served.headers.get('x-imagegate-provider')]).toEqual([200, 'openai']);

    expect((await admin(gateway, 'POST', '/channels/openai-live/disable', {})).body).toMatchObject({ enabled: false });
    expect((await admin(gateway, 'GET', '/models/dall-e-3/routes')).body.data).toEqual([]);
    const unserved = await generate(gateway, secret, { model: 'dall-e-3', response_format: 'b64_json' });
    expect(unserved.status).toBe(503);
    expect((await admin(gateway, 'POST', '/channels/openai-live/enable', {})).body).toMatchObject({ enabled: true });
    expect((await generate(gateway, secret, { model: 'dall-e-3', response_format: 'b64_json' })).status).toBe(200);
    expect((await admin(gateway, 'POST', '/channels/nope/disable', {})).status).toBe(404);

    // With a channel configured, the offline engine no longer stands in for the other models…
    const unrouted = await generate(gateway, secret, cheapImage);
    expect([unrouted.status, unrouted.body.error.code]).toEqual([404, 'model_not_available']);
    // …unless a channel names it for them.
    expect((await admin(gateway, 'POST', '/channels', { name: 'offline-engine', provider: 'offline', models: ['dall-e-2'] })).status).toBe(201);
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
  });

  it('lists request logs and usage rows filtered by key, model and time', async () => {
    const { id, secret } = await createKey(gateway, { quota_usd: '1' });
    const before = Math.floor(Date.now() / 1000) - 1;
    expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await generate(gateway, secret, { model: 'dall-e-3', response_format: 'b64_json' })).status).toBe(200);
    expect((await generate(gateway, secret, { model: 'dall-e-3', size: '1x1' })).status).toBe(400);

    const logs = await admin(gateway, 'GET', `/logs?key=${id}`);
    expect(logs.body.data.map((entry: { status: number }) => entry.status).sort()).toEqual([200, 200, 400]);
    const dalle3Logs = await admin(gateway, 'GET', `/logs?key=${id}&model=dall-e-3&from=${before}`);
    expect(dalle3Logs.body.data).toHaveLength(2);
    expect((await admin(gateway, 'GET', `/logs?key=${id}&to=${before}`)).body.data).toEqual([]);

    const usage = await admin(gateway, 'GET', `/usage?key=${id}&model=dall-e-3`);
    expect(usage.body.data).toHaveLength(1);
    expect(usage.body.data[0]).toMatchObject({ model: 'dall-e-3', quality: 'standard', size: '1024x1024', unit_price: 40_000, amount: 40_000, amount_usd: '0.04' });
    const grouped = await admin(gateway, 'GET', `/usage?key=${id}&group_by=model`);
    expect(grouped.body.data).toEqual([
      { model: 'dall-e-2', requests: 1, images_requested: 1, images_delivered: 1, amount: 16_000, amount_usd: '0.016' },
      { model: 'dall-e-3', requests: 1, images_requested: 1, images_delivered: 1, amount: 40_000, amount_usd: '0.04' },
    ]);
    expect((await admin(gateway, 'GET', '/usage?limit=0')).status).toBe(400);
    expect((await admin(gateway, 'GET', '/usage?group_by=hour')).status).toBe(400);
  });
});
