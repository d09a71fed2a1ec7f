// The admin API as the console uses it: sign-in sessions (cookies, CSRF), key holders narrowed to
// their own data, the audit log, request details, the gallery, task timelines, statistics, and the
// Prometheus metrics whose counters must match the requests made.

import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultOpenAIFakeApiKey, startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { admin, adminToken, call, createKey, startBillingGateway, type Answer } from './billing-support.js';
import { waitForTask } from './task-helpers.js';

let gateway: TestGateway;
let upstream: OpenAIFake;

beforeAll(async () => {
  gateway = await startBillingGateway();
  upstream = await startOpenAIFake();
});
afterAll(async () => {
  await gateway.close();
  await upstream.close();
});

interface Session {
  cookie: string;
  csrf: string;
  body: any;
  setCookie: string;
}

async function signIn(credentials: Record<string, string>): Promise<Session> {
  const response = await fetch(`${gateway.url}/admin/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) });
  const body = (await response.json()) as any;
  if (response.status !== 201) throw new Error(`sign-in answered ${response.status}: ${JSON.stringify(body)}`);
  const setCookie = response.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0] ?? '', csrf: body.csrf_token, body, setCookie };
}

function withSession(session: Session, path: string, init: { method?: string; body?: unknown; csrf?: boolean; headers?: Record<string, string> } = {}): Promise<Answer> {
  return call(`${gateway.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    body: init.body,
    headers: { cookie: session.cookie, ...(init.csrf === false ? {} : { 'x-csrf-token': session.csrf }), ...init.headers },
  });
}

describe('console sessions', () => {
  it('signs an operator in with the admin token: an HTTP-only, SameSite=Strict cookie that works on the admin API', async () => {
    const session = await signIn({ admin_token: adminToken });
    expect(session.body).toMatchObject({ object: 'console.session', role: 'operator', key_id: null });
    expect(session.setCookie).toMatch(/HttpOnly/i);
    expect(session.setCookie).toMatch(/SameSite=Strict/i);
    expect(session.setCookie).not.toContain(adminToken);
    expect((await withSession(session, '/admin/v1/keys')).status).toBe(200);
    expect((await withSession(session, '/admin/v1/session')).body).toMatchObject({ role: 'operator', csrf_token: session.csrf });
  });

  it('refuses a change made with a session but without its CSRF token, and accepts it with the token', async () => {
    const session = await signIn({ admin_token: adminToken });
    const refused = await withSession(session, '/admin/v1/keys', { body: { name: 'csrf test' }, csrf: false });
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatchObject({ code: 'permission_denied', type: 'invalid_request_error' });
    expect(refused.body.error.message).toMatch(/x-csrf-token/);
    const wrongToken = await withSession(session, '/admin/v1/keys', { body: { name: 'csrf test' }, csrf: false, headers: { 'x-csrf-token': 'x'.repeat(session.csrf.length) } });
    expect(wrongToken.status).toBe(403);
    expect((await withSession(session, '/admin/v1/keys', { body: { name: 'csrf test' } })).status).toBe(201);
  });

  it('refuses a wrong admin token (401, audited as a failed sign-in) and a forged or signed-out cookie', async () => {
    const wrong = await call(`${gateway.url}/admin/v1/session`, { body: { admin_token: 'not-the-token-at-all' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toMatchObject({ code: 'invalid_api_key', message: 'Incorrect admin token provided.' });
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const audit = await admin(gateway, 'GET', '/audit?action=session.signed_in&limit=5');
    expect(audit.body.data[0]).toMatchObject({ action: 'session.signed_in', actor: 'unknown', outcome: 'invalid_api_key', ip: '127.0.0.1' });
    expect(JSON.stringify(audit.body)).not.toContain('not-the-token-at-all');

    const forged = await call(`${gateway.url}/admin/v1/keys`, { headers: { cookie: 'imagegate_session=forged-value' } });
    expect([forged.status, forged.body.error.code]).toEqual([401, 'invalid_api_key']);
    const session = await signIn({ admin_token: adminToken });
    expect((await withSession(session, '/admin/v1/session', { method: 'DELETE' })).status).toBe(204);
    expect((await withSession(session, '/admin/v1/keys')).status).toBe(401);
  });

  it('asks for exactly one credential', async () => {
    const neither = await call(`${gateway.url}/admin/v1/session`, { body: {} });
    expect([neither.status, neither.body.error.code]).toEqual([400, 'missing_required_parameter']);
    const unknown = await call(`${gateway.url}/admin/v1/session`, { body: { password: 'x' } });
    expect([unknown.status, unknown.body.error.code, unknown.body.error.param]).toEqual([400, 'unknown_parameter', 'password']);
  });
});

describe('key holders see only their own data', () => {
  let mine: { id: string; secret: string };
  let theirs: { id: string; secret: string };
  let holder: Session;
  let theirRequestId: string;

  beforeAll(async () => {
    mine = await createKey(gateway, { name: 'holder', quota_usd: '1.00' });
    theirs = await createKey(gateway, { name: 'someone else', quota_usd: '1.00' });
    holder = await signIn({ api_key: mine.secret });
    const other = await call(`${gateway.url}/v1/images/generations`, { token: theirs.secret, body: { model: 'dall-e-2', size: '256x256', prompt: 'not yours', response_format: 'url' } });
    expect(other.status).toBe(200);
    theirRequestId = other.headers.get('x-request-id') ?? '';
  });

  it('signs in with their API key and runs the playground on it, with the session and its CSRF token', async () => {
    expect(holder.body).toMatchObject({ role: 'key', key_id: mine.id });
    const noCsrf = await withSession(holder, '/v1/images/generations', { body: { model: 'dall-e-2', size: '256x256', prompt: 'mine' }, csrf: false });
    expect(noCsrf.status).toBe(403);
    const made = await withSession(holder, '/v1/images/generations', { body: { model: 'dall-e-2', size: '256x256', prompt: 'a small blue boat', response_format: 'url' } });
    expect(made.status).toBe(200);
    const logs = await withSession(holder, '/admin/v1/logs');
    expect(logs.status).toBe(200);
    expect(logs.body.data.length).toBeGreaterThan(0);
    expect(logs.body.data.every((entry: any) => entry.key_id === mine.id)).toBe(true);
    const me = await withSession(holder, '/admin/v1/me');
    expect(me.body).toMatchObject({ id: mine.id, balance: 1_000_000 - 16_000 });
  });

  it("gets 403 on operator routes and on another key's filter, 404 on another key's request", async () => {
    for (const path of ['/admin/v1/keys', '/admin/v1/channels', '/admin/v1/audit', '/admin/v1/status', `/admin/v1/logs?key=${theirs.id}`]) {
      const answer = await withSession(holder, path);
      expect([path, answer.status, answer.body.error.code]).toEqual([path, 403, 'permission_denied']);
    }
    const topUp = await withSession(holder, `/admin/v1/keys/${mine.id}/topup`, { body: { amount: 1 } });
    expect(topUp.status).toBe(403);
    const detail = await withSession(holder, `/admin/v1/logs/${theirRequestId}`);
    expect([detail.status, detail.body.error.code]).toEqual([404, 'not_found']);
    expect((await withSession(holder, `/admin/v1/keys/${theirs.id}`)).status).toBe(404);
    const gallery = await withSession(holder, '/admin/v1/gallery');
    expect(gallery.body.data.map((item: any) => item.prompt)).toEqual(['a small blue boat']);
  });

  it('sees their own request and its cost when another key sent the same x-request-id', async () => {
    // Callers choose request ids: a second tenant reusing one must neither hide nor reveal the first's row.
    const sharedId = 'same-id-from-two-tenants';
    const body = { model: 'dall-e-2', size: '256x256', response_format: 'url' };
    const theirsMade = await call(`${gateway.url}/v1/images/generations`, { token: theirs.secret, headers: { 'x-request-id': sharedId }, body: { ...body, n: 2, prompt: 'their two' } });
    const mineMade = await call(`${gateway.url}/v1/images/generations`, { token: mine.secret, headers: { 'x-request-id': sharedId }, body: { ...body, prompt: 'my one' } });
    expect([theirsMade.status, mineMade.status]).toEqual([200, 200]);
    const detail = await withSession(holder, `/admin/v1/logs/${sharedId}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ request_id: sharedId, key_id: mine.id, prompt: 'my one', images_delivered: 1 });
    expect(detail.body.usage).toMatchObject({ key_id: mine.id, images_delivered: 1 });
    const both = await admin(gateway, 'GET', `/logs?request_id=${sharedId}`);
    expect(both.body.data.map((entry: any) => entry.key_id).sort()).toEqual([mine.id, theirs.id].sort());
  });

  it('loses the session when the key is revoked', async () => {
    const session = await signIn({ api_key: theirs.secret });
    expect((await withSession(session, '/admin/v1/me')).status).toBe(200);
    expect((await admin(gateway, 'POST', `/keys/${theirs.id}/revoke`)).status).toBe(200);
    expect((await withSession(session, '/admin/v1/me')).status).toBe(401);
    const again = await call(`${gateway.url}/admin/v1/session`, { body: { api_key: theirs.secret } });
    expect(again.status).toBe(401);
  });
});

describe('the audit log', () => {
  it('records who, when, from where and what changed, with secrets masked', async () => {
    const created = await createKey(gateway, { name: 'audited', quota: 5 });
    await admin(gateway, 'POST', `/keys/${created.id}/topup`, { amount: 100, note: 'for the audit' });
    const channelKey = defaultOpenAIFakeApiKey;
    expect((await admin(gateway, 'POST', '/channels', { name: 'audited-channel', provider: 'openai', base_url: `${upstream.url}/v1`, api_key: channelKey, models: ['dall-e-2'] })).status).toBe(201);
    expect((await admin(gateway, 'PUT', '/prices/dall-e-2', { per_image: { '*': { '256x256': '0.02', '*': '0.03' } } })).status).toBe(200);
    const refused = await admin(gateway, 'POST', `/keys/${created.id}/topup`, { amount: -3 });
    expect(refused.status).toBe(400);

    const audit = await admin(gateway, 'GET', '/audit?limit=20');
    expect(audit.status).toBe(200);
    const text = JSON.stringify(audit.body);
    expect(text).not.toContain(channelKey);
    expect(text).not.toContain(created.secret);
    const find = (action: string, target: string) => audit.body.data.find((entry: any) => entry.action === action && entry.target === target && entry.outcome === 'ok');
    expect(find('key.created', created.id)).toMatchObject({ actor: 'admin token', ip: '127.0.0.1', outcome: 'ok', changes: { name: 'audited', quota: 5 } });
    expect(find('key.topped_up', created.id)).toMatchObject({ outcome: 'ok', changes: { amount: 100, note: 'for the audit', balance: 105 } });
    expect(find('channel.created', 'audited-channel')).toMatchObject({ outcome: 'ok', changes: { api_key: 'sk-***89', provider: 'openai' } });
    expect(find('price.changed', 'dall-e-2')).toMatchObject({ outcome: 'ok' });
    expect(audit.body.data[0]).toMatchObject({ action: 'key.topped_up', outcome: 'invalid_value', changes: { amount: -3 } });
    expect(audit.body.data[0].at).toBeGreaterThan(Date.now() / 1000 - 60);
    expect((await admin(gateway, 'DELETE', '/prices/dall-e-2')).status).toBe(200);
  });

  it('records a channel test with its result, and the test answers the image when asked', async () => {
    const tested = await admin(gateway, 'POST', '/channels/audited-channel/test', { include_image: true });
    expect(tested.status).toBe(200);
    expect(tested.body).toMatchObject({ ok: true, channel: 'audited-channel', format: 'png' });
    const png = Buffer.from(String(tested.body.image_data_url).replace(/^data:image\/png;base64,/, ''), 'base64');
    expect((await sharp(png).metadata()).format).toBe('png');
    const plain = await admin(gateway, 'POST', '/channels/audited-channel/test', {});
    expect(plain.body.image_data_url).toBeUndefined();
    const audit = await admin(gateway, 'GET', '/audit?action=channel.tested');
    expect(audit.body.data[0]).toMatchObject({ target: 'audited-channel', outcome: 'ok', changes: { result: 'ok' } });
    expect((await admin(gateway, 'DELETE', '/channels/audited-channel')).status).toBe(204);
  });
});

describe('what the console shows of requests, images and tasks', () => {
  let key: { id: string; secret: string };
  let requestId: string;

  beforeAll(async () => {
    key = await createKey(gateway, { name: 'viewer', quota_usd: '1.00' });
    const made = await call(`${gateway.url}/v1/images/generations`, { token: key.secret, body: { model: 'dall-e-2', size: '256x256', n: 2, prompt: 'two green kites', response_format: 'url' } });
    expect(made.status).toBe(200);
    requestId = made.headers.get('x-request-id') ?? '';
  });

  it("opens a request's details: prompt, parameters, warnings, cost and images that are served", async () => {
    const detail = await admin(gateway, 'GET', `/logs/${requestId}`);
    expect(detail.status).toBe(200);
    // Found by the request id its client saw; the entry has a row id of its own (request ids may repeat).
    expect(detail.body).toMatchObject({ id: expect.stringMatching(/^log_/), request_id: requestId, key_id: key.id, model: 'dall-e-2', status: 200, images_delivered: 2, prompt: 'two green kites', parameters: { n: 2, size: '256x256', response_format: 'url' } });
    expect(detail.body.usage).toMatchObject({ amount: 32_000, images_delivered: 2, unit: 'image' });
    expect((await admin(gateway, 'GET', `/logs/${detail.body.id}`)).body).toMatchObject({ id: detail.body.id, request_id: requestId });
    expect((await admin(gateway, 'GET', `/logs?request_id=${requestId}`)).body.data.map((entry: any) => entry.id)).toEqual([detail.body.id]);
    expect(detail.body.images).toHaveLength(2);
    const image = await fetch(`${gateway.url}${detail.body.images[0].url}`);
    expect(image.status).toBe(200);
    const metadata = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
    expect([metadata.width, metadata.height]).toEqual([256, 256]);
    const missing = await admin(gateway, 'GET', '/logs/req_nothing');
    expect([missing.status, missing.body.error.code]).toEqual([404, 'not_found']);
  });

  it('filters the request log by channel and outcome, refusing an unknown outcome', async () => {
    const failed = await call(`${gateway.url}/v1/images/generations`, { token: key.secret, body: { model: 'dall-e-2', size: '3x3', prompt: 'bad size' } });
    expect(failed.status).toBe(400);
    const failures = await admin(gateway, 'GET', `/logs?key=${key.id}&status=failed`);
    expect(failures.body.data.map((entry: any) => entry.status)).toEqual([400]);
    const successes = await admin(gateway, 'GET', `/logs?key=${key.id}&status=succeeded&channel=offline`);
    expect(successes.body.data.map((entry: any) => entry.request_id)).toEqual([requestId]);
    const bad = await admin(gateway, 'GET', '/logs?status=maybe');
    expect([bad.status, bad.body.error.param]).toEqual([400, 'status']);
  });

  it('shows stored images in the gallery with prompt, model and cost, filtered by key and model', async () => {
    const gallery = await admin(gateway, 'GET', `/gallery?key=${key.id}`);
    expect(gallery.status).toBe(200);
    const logRowId = (await admin(gateway, 'GET', `/logs/${requestId}`)).body.id;
    expect(gallery.body.data[0]).toMatchObject({ source: logRowId, kind: 'request', model: 'dall-e-2', prompt: 'two green kites', amount: 32_000, amount_usd: '0.032' });
    expect(gallery.body.data[0].images).toHaveLength(2);
    expect((await admin(gateway, 'GET', `/gallery?key=${key.id}&model=gpt-image-1`)).body.data).toEqual([]);
  });

  it("follows an asynchronous task's timeline from queued to succeeded, with its images and cost", async () => {
    const submitted = await call(`${gateway.url}/v1/images/generations?async=true`, { token: key.secret, body: { model: 'dall-e-2', size: '256x256', prompt: 'a task kite' } });
    expect(submitted.status).toBe(202);
    const taskId = submitted.body.id;
    await waitForTask(gateway.url, key.secret, taskId);
    const detail = await admin(gateway, 'GET', `/tasks/${taskId}`);
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ id: taskId, status: 'succeeded', progress: 100, key_id: key.id, prompt: 'a task kite', amount: 16_000 });
    const kinds = detail.body.timeline.map((event: any) => event.kind);
    expect(kinds[0]).toBe('queued');
    expect(kinds).toContain('started');
    expect(kinds.slice(-2)).toEqual(['stored', 'succeeded']);
    expect(detail.body.images).toHaveLength(1);
    const image = await fetch(`${gateway.url}${detail.body.images[0].url}`);
    expect(Buffer.from(await image.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
    expect(image.status).toBe(200);
    const list = await admin(gateway, 'GET', `/tasks?key=${key.id}&status=succeeded`);
    expect(list.body.data.map((task: any) => task.id)).toContain(taskId);
    const cancel = await admin(gateway, 'POST', `/tasks/${taskId}/cancel`);
    expect([cancel.status, cancel.body.error.code]).toEqual([409, 'conflict']);
    const retry = await admin(gateway, 'POST', `/tasks/${taskId}/retry-webhook`);
    expect([retry.status, retry.body.error.code]).toEqual([409, 'conflict']);
    // The request that submitted it names the task, and the gallery shows the work once, as the task.
    const logs = await admin(gateway, 'GET', `/logs/${submitted.headers.get('x-request-id')}`);
    expect(logs.body).toMatchObject({ status: 202, task_id: taskId });
    const logRowId = (await admin(gateway, 'GET', `/logs/${requestId}`)).body.id;
    expect((await admin(gateway, 'GET', `/gallery?key=${key.id}`)).body.data.map((item: any) => item.source)).toEqual([taskId, logRowId]);
  });

  it('totals traffic over a window in buckets and by model, channel and key', async () => {
    const stats = await admin(gateway, 'GET', `/stats?window=hour&key=${key.id}`);
    expect(stats.status).toBe(200);
    expect(stats.body.series).toHaveLength(60);
    // Image operations of the key are counted, as the request log lists them; task polls are not.
    const logged = (await admin(gateway, 'GET', `/logs?key=${key.id}`)).body.data.filter((entry: any) => entry.endpoint.startsWith('images.'));
    expect(logged).toHaveLength(3);
    expect(stats.body.totals).toMatchObject({ requests: logged.length, errors: 1, images_delivered: 3, amount: 48_000 });
    expect(stats.body.series.reduce((sum: number, bucket: any) => sum + bucket.requests, 0)).toBe(logged.length);
    expect(stats.body.by_model).toContainEqual(expect.objectContaining({ group: 'dall-e-2', images_delivered: 3, amount: 48_000 }));
    expect(stats.body.by_key).toEqual([expect.objectContaining({ group: key.id, requests: logged.length })]);
    const bad = await admin(gateway, 'GET', '/stats?window=week');
    expect([bad.status, bad.body.error.param]).toEqual([400, 'window']);
    const status = await admin(gateway, 'GET', '/status');
    expect(status.body).toMatchObject({ object: 'status', tasks: { queued: 0, in_progress: 0 } });
    const settings = await admin(gateway, 'GET', '/settings');
    expect(settings.body.retention).toMatchObject({ images_and_tasks_hours: 24 });
    const history = await admin(gateway, 'GET', `/keys/${key.id}/history`);
    expect(history.body.data.map((entry: any) => [entry.kind, entry.amount])).toEqual([
      ['charge', -16_000],
      ['charge', -32_000],
      ['initial', 1_000_000],
    ]);
  });

  it('lists the catalog with prices, aliases and routes', async () => {
    const models = await admin(gateway, 'GET', '/models');
    expect(models.status).toBe(200);
    const dalle2 = models.body.data.find((model: any) => model.id === 'dall-e-2');
    expect(dalle2).toMatchObject({ sizes: ['256x256', '512x512', '1024x1024'], price: expect.any(Object) });
  });
});

describe('/metrics', () => {
  it('needs the token and counts exactly the requests made', async () => {
    const metricsGateway = await startBillingGateway();
    try {
      expect((await call(`${metricsGateway.url}/metrics`)).status).toBe(401);
      expect((await call(`${metricsGateway.url}/metrics`, { token: 'wrong-token-0123456789' })).status).toBe(401);
      for (let index = 0; index < 3; index += 1) {
        const made = await call(`${metricsGateway.url}/v1/images/generations`, { token: metricsGateway.apiKey, body: { model: 'dall-e-2', size: '256x256', n: 2, prompt: `metric ${index}` } });
        expect(made.status).toBe(200);
      }
      const bad = await call(`${metricsGateway.url}/v1/images/generations`, { token: metricsGateway.apiKey, body: { model: 'dall-e-2', size: '3x3', prompt: 'bad' } });
      expect(bad.status).toBe(400);
      const scrape = await fetch(`${metricsGateway.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(scrape.status).toBe(200);
      expect(scrape.headers.get('content-type')).toMatch(/text\/plain/);
      const text = await scrape.text();
      const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
      expect(value(/^imagegate_requests_total\{endpoint="images.generations",model="dall-e-2",status="200"\} (\d+)$/m)).toBe(3);
      expect(value(/^imagegate_requests_total\{endpoint="images.generations",model="dall-e-2",status="400"\} (\d+)$/m)).toBe(1);
      expect(value(/^imagegate_images_delivered_total\{model="dall-e-2",channel="offline"\} (\d+)$/m)).toBe(6);
      expect(value(/^imagegate_upstream_request_duration_seconds_count\{channel="offline",provider="offline",outcome="ok"\} (\d+)$/m)).toBe(3);
      expect(value(/^imagegate_http_request_duration_seconds_count\{method="POST",route="\/v1\/images\/generations",status_code="200"\} (\d+)$/m)).toBe(3);
      expect(value(/^imagegate_tasks\{status="queued"\} (\d+)$/m)).toBe(0);
      expect(text).toMatch(/^imagegate_billing_images \d+$/m);
      expect(text).toMatch(/^imagegate_process_cpu_seconds_total /m);
    } finally {
      await metricsGateway.close();
    }
  });

  it('can be served on a separate admin listener instead of the API port', async () => {
    const separate = await startBillingGateway({ metrics: { enabled: true, token: undefined, port: 0, host: '127.0.0.1' } });
    try {
      expect((await call(`${separate.url}/metrics`)).status).toBe(404);
      const address = separate.gateway.metricsApp?.server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      const scrape = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } });
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toContain('imagegate_requests_total');
    } finally {
      await separate.close();
    }
  });
});
