// The request log over real HTTP: one row per request, found by the response's x-request-id, for
// successes and every kind of failure (a repeated client id included); and neither image base64 nor a
// secret in the database file.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestLogsTable } from '../../src/storage/sql/schema.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { admin, adminToken, createKey, startBillingGateway } from './billing-support.js';
import { startHeldUpstream } from './hardening/held-upstream.js';

/** A request_logs row as read back from the database file. */
type Row = RequestLogsTable;

const exchanges: Record<string, { requestId: string; status: number; body: string }> = {};
/** Rows by request id (each request id here was sent once, but for the repeated one). */
let rows: Map<string, Row>;
let allRows: Row[];
let envKeyId: string;
let gateway: TestGateway;
let databaseBytes: Buffer;
let dataDir: string;

async function send(name: string, path: string, init: { headers?: Record<string, string>; body?: string; method?: string }): Promise<void> {
  const response = await fetch(gateway.url + path, { method: init.method ?? 'POST', headers: init.headers, body: init.body });
  const requestId = response.headers.get('x-request-id') ?? '';
  exchanges[name] = { requestId, status: response.status, body: await response.text() };
}

beforeAll(async () => {
  // Our own data dir: the harness removes the one it makes on close, and the file is read after closing.
  dataDir = await mkdtemp(join(tmpdir(), 'imagegate-request-log-'));
  gateway = await startTestGateway({ dataDir });
  const auth = { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' };
  await send('success', '/v1/images/generations', {
    headers: auth,
    body: JSON.stringify({ model: 'gpt-image-1', prompt: 'two logged boats', n: 2, size: '1536x1024' }),
  });
  await send('url success', '/v1/images/generations', {
    headers: { ...auth, 'x-request-id': 'client-chosen-id-42' },
    body: JSON.stringify({ model: 'dall-e-2', prompt: 'a logged link', size: '256x256' }),
  });
  await send('invalid size', '/v1/images/generations', { headers: auth, body: JSON.stringify({ model: 'dall-e-3', prompt: 'x', size: '512x512' }) });
  await send('unknown model', '/v1/images/generations', { headers: auth, body: JSON.stringify({ model: 'dall-e-9', prompt: 'x' }) });
  await send('no key', '/v1/images/generations', { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'dall-e-3', prompt: 'x' }) });
  await send('bad json', '/v1/images/generations', { headers: auth, body: '{"model": "dall-e-3", ' });
  await send('wrong content type', '/v1/images/generations', { headers: { ...auth, 'content-type': 'text/plain' }, body: 'model=dall-e-3' });
  const url = (JSON.parse(exchanges['url success']?.body ?? '{}') as { data?: Array<{ url?: string }> }).data?.[0]?.url ?? '';
  // The same client id again: billing refuses the reuse (409), and the log must keep both rows.
  await send('repeated id', '/v1/images/generations', {
    headers: { ...auth, 'x-request-id': 'client-chosen-id-42' },
    body: JSON.stringify({ model: 'dall-e-2', prompt: 'a logged link', size: '256x256' }),
  });
  await send('file', new URL(url).pathname + new URL(url).search, { method: 'GET' });
  await send('health', '/healthz', { method: 'GET' });

  // Closing flushes the buffered log; the file is then read as it is on disk.
  await gateway.close();
  const file = join(dataDir, 'imagegate.sqlite');
  databaseBytes = Buffer.concat([await readFile(file), await readFile(`${file}-wal`).catch(() => Buffer.alloc(0))]);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    allRows = db.prepare('SELECT * FROM request_logs ORDER BY created_at').all() as Row[];
    rows = new Map(allRows.map((row) => [row.request_id ?? '', row]));
    envKeyId = (db.prepare("SELECT id FROM api_keys WHERE name = 'env-1'").get() as { id: string }).id;
  } finally {
    db.close();
  }
});

afterAll(async () => rm(dataDir, { recursive: true, force: true }));

function rowOf(name: string): Row {
  const exchange = exchanges[name];
  expect(exchange?.requestId).toBeTruthy();
  const row = rows.get(exchange?.requestId ?? '');
  expect(row, `a request_logs row for "${name}" (${exchange?.requestId})`).toBeDefined();
  return row as Row;
}

describe('request_logs rows', () => {
  it('records a success with key, model, provider, images requested and delivered, size and latency', () => {
    expect(exchanges.success?.status).toBe(200);
    expect(rowOf('success')).toEqual({
      id: expect.stringMatching(/^log_[0-9a-f]{32}$/),
      request_id: exchanges.success?.requestId,
      key_id: envKeyId,
      endpoint: 'images.generations',
      model: 'gpt-image-1',
      provider: 'offline',
      channel: 'offline',
      status: 200,
      images_requested: 2,
      images_delivered: 2,
      size: '1536x1024',
      latency_ms: expect.any(Number),
      error_code: null,
      created_at: expect.any(Number),
      // The socket's peer: no server.trust_proxy is set.
      client_ip: '127.0.0.1',
      details: expect.any(String),
    });
    expect(rowOf('success').latency_ms).toBeGreaterThanOrEqual(0);
    // What the console's request log shows: the prompt and parameters as sent; b64_json answers store no images.
    expect(JSON.parse(String(rowOf('success').details))).toMatchObject({ prompt: 'two logged boats', parameters: { model: 'gpt-image-1', n: 2, size: '1536x1024' }, imageKeys: [] });
  });

  it("keeps the client's own x-request-id as the row's request id, and a second request reusing it in a row of its own", () => {
    expect(exchanges['url success']?.requestId).toBe('client-chosen-id-42');
    expect(exchanges['repeated id']).toMatchObject({ requestId: 'client-chosen-id-42', status: 409 });
    const withId = allRows.filter((row) => row.request_id === 'client-chosen-id-42');
    expect(withId.map((row) => [row.status, row.error_code, row.images_delivered])).toStrictEqual([
      [200, null, 1],
      [409, 'conflict', 0],
    ]);
    expect(new Set(withId.map((row) => row.id)).size).toBe(2);
  });

  it('records a validation failure with its error code and the model asked for', () => {
    expect(rowOf('invalid size')).toMatchObject({ key_id: envKeyId, model: 'dall-e-3', status: 400, error_code: 'invalid_value', images_delivered: 0 });
  });

  it('records an unknown model under the name that was sent', () => {
    expect(rowOf('unknown model')).toMatchObject({ key_id: envKeyId, model: 'dall-e-9', status: 404, error_code: 'model_not_found', images_delivered: 0 });
  });

  it('records a request refused for want of a key, with no key id', () => {
    expect(rowOf('no key')).toMatchObject({ key_id: null, endpoint: 'images.generations', status: 401, error_code: 'invalid_api_key', images_delivered: 0 });
  });

  it('records bodies refused before any handler ran: bad JSON and a wrong content type', () => {
    expect(rowOf('bad json')).toMatchObject({ endpoint: 'images.generations', status: 400, error_code: 'invalid_json' });
    expect(rowOf('wrong content type')).toMatchObject({ endpoint: 'images.generations', status: 415, error_code: 'unsupported_media_type' });
  });

  it('records hosted-file fetches, and leaves health probes out', () => {
    expect(rowOf('file')).toMatchObject({ endpoint: 'files', status: 200, key_id: null });
    expect(rows.has(exchanges.health?.requestId ?? '')).toBe(false);
  });

  it('holds exactly one row per logged request', () => {
    const logged = Object.entries(exchanges).filter(([name]) => name !== 'health');
    expect(allRows.length).toBe(logged.length);
    expect(new Set(allRows.map((row) => row.id)).size).toBe(allRows.length);
  });
});

describe('what the database file never holds', () => {
  it('holds no base64 of a returned image', () => {
    const body = JSON.parse(exchanges.success?.body ?? '{}') as { data: Array<{ b64_json: string }> };
    for (const image of body.data) {
      expect(image.b64_json.length).toBeGreaterThan(1000);
      // A stretch from the middle: the PNG signature's base64 is the same in every file.
      expect(databaseBytes.includes(image.b64_json.slice(500, 560))).toBe(false);
      expect(databaseBytes.includes(image.b64_json.slice(0, 64))).toBe(false);
    }
  });

  it('holds no API key secret', () => {
    expect(databaseBytes.includes(gateway.apiKey)).toBe(false);
  });
});

describe('a request whose client goes away before the answer', () => {
  it('is logged once, with 499 client_closed_request and what was known of it, and counted in the metrics', async () => {
    const held = await startHeldUpstream({ width: 64, height: 64 });
    const abandonedGateway = await startBillingGateway({
      channels: [{ name: 'held', provider: 'openai', base_url: held.baseUrl, api_key: 'sk-held-0123456789abcdef', models: ['gpt-image-1'] }],
    });
    try {
      const { id: keyId, secret } = await createKey(abandonedGateway, { name: 'leaves-early', quota: 10_000_000 });
      const abandon = new AbortController();
      const pending = fetch(`${abandonedGateway.url}/v1/images/generations`, {
        method: 'POST',
        headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json', 'x-request-id': 'gave-up-1' },
        body: JSON.stringify({ model: 'gpt-image-1', prompt: 'a slow lighthouse', size: '1024x1024' }),
        signal: abandon.signal,
      }).catch((error: unknown) => error);
      await held.arrived(1);
      abandon.abort();
      expect(await pending).toBeInstanceOf(Error);
      // The log is written in the background (every 250 ms): asked until the row is there, within a
      // bound, while the upstream still holds the call.
      let logged: Array<Record<string, unknown>> = [];
      for (const started = Date.now(); logged.length === 0 && Date.now() - started < 10_000; ) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        logged = (await admin(abandonedGateway, 'GET', '/logs?request_id=gave-up-1')).body.data as Array<Record<string, unknown>>;
      }
      expect(logged).toHaveLength(1);
      expect(logged[0]).toMatchObject({ status: 499, error_code: 'client_closed_request', endpoint: 'images.generations', key_id: keyId, model: 'gpt-image-1', images_delivered: 0 });
      // Nothing delivered, nothing charged: the reservation went back.
      expect(await abandonedGateway.gateway.billing.balance(keyId)).toBe(10_000_000);
      // The upstream answers after the client left (the gateway stopped waiting for it): no second row.
      held.release();
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect((await admin(abandonedGateway, 'GET', '/logs?request_id=gave-up-1')).body.data).toHaveLength(1);

      const scrape = await (await fetch(`${abandonedGateway.url}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
      expect(scrape).toMatch(/^imagegate_requests_total\{endpoint="images.generations",model="gpt-image-1",status="499"\} 1$/m);
    } finally {
      await abandonedGateway.close();
      await held.close();
    }
  });
});
