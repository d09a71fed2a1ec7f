// The core flows over real HTTP with the gateway on PostgreSQL (database.url = a fresh schema):
// generations, edits, an async task, a metered key's quota, idempotency, the rows those leave in
// the database, and /readyz following the database.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { createTestSchema, runOnTestServer, type TestSchema } from '../../src/testing/postgres.js';
import { admin, cheapImage, cheapImageCredits, createKey, generate, startBillingGateway } from './billing-support.js';
import { call, waitForTask } from './task-helpers.js';

let schema: TestSchema;
let gateway: TestGateway;

/** Rows as stored, read through a connection of our own (not the gateway's pool). */
async function select<T>(query: string, values: unknown[] = []): Promise<T[]> {
  const result = await runOnTestServer(query.replaceAll('{schema}', `"${schema.schema}"`), values);
  return result.rows as T[];
}

/** Submits a 256x256 generation with ?async=true and follows it: the finished task, its image checked. */
async function runTaskToSuccess(target: TestGateway): Promise<any> {
  const submitted = await call(target.url, '/v1/images/generations?async=true', { key: target.apiKey, json: { model: 'dall-e-2', prompt: 'a red kite', size: '256x256', response_format: 'b64_json' } });
  expect(submitted.status).toBe(202);
  const done = await waitForTask(target.url, target.apiKey, submitted.body.id);
  expect(done.status).toBe('succeeded');
  const meta = await sharp(Buffer.from(done.result.data[0].b64_json, 'base64')).metadata();
  expect([meta.width, meta.height]).toEqual([256, 256]);
  return done;
}

beforeAll(async () => {
  schema = createTestSchema('e2e_gateway');
  gateway = await startBillingGateway({ databaseUrl: schema.url, databaseMaxConnections: 4 });
});

afterAll(async () => {
  await gateway?.close();
  await schema?.drop();
});

describe('a gateway on PostgreSQL', () => {
  it('creates its tables in the configured schema at start-up and answers /readyz', async () => {
    const migrations = await select<{ version: number }>('SELECT version FROM {schema}.schema_migrations ORDER BY version');
    expect(migrations.map((row) => row.version)).toEqual(expect.arrayContaining([1, 2, 3, 4, 5]));
    expect((await call(gateway.url, '/readyz')).status).toBe(200);
  });

  it('generates images, base64 and hosted URL, and logs each request in Postgres', async () => {
    const b64 = await call(gateway.url, '/v1/images/generations', { key: gateway.apiKey, json: { model: 'dall-e-2', prompt: 'a lighthouse', size: '256x256', n: 2, response_format: 'b64_json' } });
    expect(b64.status).toBe(200);
    expect(b64.body.data).toHaveLength(2);
    const meta = await sharp(Buffer.from(b64.body.data[0].b64_json, 'base64')).metadata();
    expect([meta.width, meta.height, meta.format]).toEqual([256, 256, 'png']);

    const hosted = await call(gateway.url, '/v1/images/generations', { key: gateway.apiKey, json: { model: 'dall-e-2', prompt: 'a harbour', size: '512x512', response_format: 'url' } });
    expect(hosted.status).toBe(200);
    const image = await fetch(hosted.body.data[0].url);
    expect(image.status).toBe(200);
    expect((await sharp(Buffer.from(await image.arrayBuffer())).metadata()).width).toBe(512);

    const requestId = hosted.headers.get('x-request-id');
    // The request log is written in batches off the request path.
    await expect
      .poll(async () => (await select<{ status: number; images_delivered: number }>('SELECT status, images_delivered FROM {schema}.request_logs WHERE request_id = $1', [requestId])).at(0), { timeout: 5_000 })
      .toEqual({ status: 200, images_delivered: 1 });
  });

  it('edits an uploaded image', async () => {
    const source = await sharp({ create: { width: 300, height: 200, channels: 4, background: '#3366ff' } }).png().toBuffer();
    const form = new FormData();
    form.append('model', 'gpt-image-1');
    form.append('prompt', 'add a moon');
    form.append('size', '1024x1024');
    form.append('image[]', new Blob([source], { type: 'image/png' }), 'source.png');
    const edited = await call(gateway.url, '/v1/images/edits', { key: gateway.apiKey, form });
    expect(edited.status).toBe(200);
    const meta = await sharp(Buffer.from(edited.body.data[0].b64_json, 'base64')).metadata();
    expect([meta.width, meta.height]).toEqual([1024, 1024]);
  });

  it('runs an async task to success through the Postgres claim, leased and recorded in the tasks table', async () => {
    const done = await runTaskToSuccess(gateway);
    const [row] = await select<{ status: string; attempts: number; lease_owner: string | null }>('SELECT status, attempts, lease_owner FROM {schema}.tasks WHERE id = $1', [done.id]);
    expect(row).toMatchObject({ status: 'succeeded', attempts: 1 });
    expect(row?.lease_owner).toEqual(expect.any(String));
    // The timeline, each moment once: started is written by the claim's own statement on PostgreSQL.
    const events = await select<{ kind: string; detail: string }>('SELECT kind, detail FROM {schema}.task_events WHERE task_id = $1 ORDER BY id', [done.id]);
    expect(events.map((event) => event.kind)).toEqual(['queued', 'started', 'stored', 'succeeded']);
    expect(JSON.parse(events[1]?.detail ?? 'null')).toEqual({ attempt: 1, resumed: false });
  });

  it('runs an async task with database.prepared_statements off, as behind a transaction-mode pooler', async () => {
    const ownSchema = createTestSchema('e2e_unprepared');
    const unprepared = await startBillingGateway({ databaseUrl: ownSchema.url, databaseMaxConnections: 2, databasePreparedStatements: false });
    try {
      await runTaskToSuccess(unprepared);
    } finally {
      await unprepared.close();
      await ownSchema.drop();
    }
  });

  it('charges a metered key exactly its quota under concurrency, with usage rows and a balance of zero in Postgres', async () => {
    const { id, secret } = await createKey(gateway, { quota: 7 * cheapImageCredits });
    const answers = await Promise.all(Array.from({ length: 30 }, () => generate(gateway, secret, cheapImage)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(7);
    for (const answer of answers.filter((candidate) => candidate.status !== 200)) {
      expect(answer.status).toBe(429);
      expect(answer.body.error.code).toBe('insufficient_quota');
    }
    const [key] = await select<{ balance: string }>('SELECT balance::text FROM {schema}.api_keys WHERE id = $1', [id]);
    expect(key?.balance).toBe('0');
    const [usage] = await select<{ rows: string; amount: string }>('SELECT count(*)::text AS rows, sum(amount)::text AS amount FROM {schema}.billing_usage WHERE key_id = $1', [id]);
    expect(usage).toEqual({ rows: '7', amount: String(7 * cheapImageCredits) });
    const held = await select('SELECT id FROM {schema}.billing_reservations WHERE key_id = $1 AND status = $2', [id, 'held']);
    expect(held).toEqual([]);
    const listed = await admin(gateway, 'GET', `/usage?key=${id}&limit=100`);
    expect(listed.body.data).toHaveLength(7);
  });

  it('replays an Idempotency-Key from the row in Postgres', async () => {
    const headers = { 'idempotency-key': `pg-${Date.now()}` };
    const body = { model: 'dall-e-2', prompt: 'one and only', size: '256x256', response_format: 'b64_json' };
    const first = await call(gateway.url, '/v1/images/generations', { key: gateway.apiKey, json: body, headers });
    const second = await call(gateway.url, '/v1/images/generations', { key: gateway.apiKey, json: body, headers });
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(second.body.data[0].b64_json).toBe(first.body.data[0].b64_json);
    const [row] = await select<{ state: string }>('SELECT state FROM {schema}.idempotency_keys WHERE idempotency_key = $1', [headers['idempotency-key']]);
    expect(row?.state).toBe('done');
  });

  it('answers /readyz 503 once the database is unusable', async () => {
    await runOnTestServer(`DROP TABLE "${schema.schema}".schema_migrations`);
    const answer = await call(gateway.url, '/readyz');
    expect(answer.status).toBe(503);
    expect(answer.body.error.message).toMatch(/database/);
  });
});

describe('starting on a PostgreSQL that is not there', () => {
  it('exits with status 1 naming the server (password hidden) instead of serving', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'imagegate-pg-down-'));
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { ...process.env, PORT: '0', IMAGEGATE_DATA_DIR: dataDir, IMAGEGATE_DATABASE_URL: 'postgres://postgres:hunter2-secret@127.0.0.1:1/test', IMAGEGATE_LOG_LEVEL: 'silent' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
      expect(code).toBe(1);
      expect(output).toContain('imagegate: cannot start: cannot reach PostgreSQL at postgres://postgres:***@127.0.0.1:1/test (ECONNREFUSED)');
      expect(output).not.toContain('hunter2-secret');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 30_000);

  it('refuses a database.url of an unknown kind as a configuration error', async () => {
    expect(() => loadConfig({ IMAGEGATE_DATABASE_URL: 'mysql://root:pw@db/imagegate' })).toThrow(ConfigError);
    expect(() => loadConfig({ IMAGEGATE_DATABASE_URL: 'mysql://root:pw@db/imagegate' })).toThrow(/expected sqlite:<path> or postgres:\/\/.*got 'mysql:\/\/…@db\/imagegate'/);
    expect(loadConfig({ IMAGEGATE_DATABASE_URL: 'postgres://u@h/db' }).databaseUrl).toBe('postgres://u@h/db');
    expect(() => loadConfig({ IMAGEGATE_DATABASE_URL: 'postgres://u@h/db?schema=Robert%27;DROP' })).toThrow(/schema 'Robert';DROP' must be lower-case letters/);
    expect(loadConfig({ IMAGEGATE_DATABASE_MAX_CONNECTIONS: '3' }).databaseMaxConnections).toBe(3);
    expect(() => loadConfig({ IMAGEGATE_DATABASE_MAX_CONNECTIONS: '0' })).toThrow(/IMAGEGATE_DATABASE_MAX_CONNECTIONS/);
    expect(loadConfig({}).databasePreparedStatements).toBe(true);
    expect(loadConfig({ IMAGEGATE_DATABASE_PREPARED_STATEMENTS: 'false' }).databasePreparedStatements).toBe(false);
    expect(() => loadConfig({ IMAGEGATE_DATABASE_PREPARED_STATEMENTS: 'sometimes' })).toThrow(/IMAGEGATE_DATABASE_PREPARED_STATEMENTS/);
  });
});
