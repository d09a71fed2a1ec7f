// `imagegate db copy` end to end: a SQLite deployment with real traffic (a metered key that spent
// credits, a top-up, async and sync images, a price override, a channel added at run time) is copied
// into a fresh PostgreSQL schema by the real command; a gateway started on the copy serves the same
// keys, balances, usage, tasks and settings; a second copy into the now non-empty target is refused.
// A client's webhook secret travels sealed and still signs the copy's deliveries.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSchema, runOnTestServer, type TestSchema } from '../../src/testing/postgres.js';
import { admin, cheapImage, cheapImageCredits, createKey, generate, startBillingGateway } from './billing-support.js';
import { call, waitForTask } from './task-helpers.js';
import { eventually, startReceiver, type Receiver } from './dialects-support.js';
import { verifyWebhook } from '../../src/webhooks/signing.js';

function imagegate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/imagegate.js', ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

let dataDir: string;
let schema: TestSchema;
let receiver: Receiver;
/** The async task's own webhook secret (whsec_ + base64). */
const webhookSecret = `whsec_${Buffer.from('copied-webhook-secret-0123').toString('base64')}`;
const before = {} as { keyId: string; secret: string; balance: number; usage: number; taskId: string; channels: string[] };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'imagegate-copy-'));
  schema = createTestSchema('db_copy');
  receiver = await startReceiver();
  const gateway = await startBillingGateway({ dataDir });
  try {
    const { id, secret } = await createKey(gateway, { name: 'moved key', quota: 10 * cheapImageCredits });
    for (let index = 0; index < 3; index += 1) expect((await generate(gateway, secret, cheapImage)).status).toBe(200);
    expect((await admin(gateway, 'POST', `/keys/${id}/topup`, { amount: 5 * cheapImageCredits })).status).toBe(200);
    const submitted = await call(gateway.url, '/v1/images/generations?async=true', { key: secret, json: { ...cheapImage, prompt: 'a copied kite', callback_url: `${receiver.url}/copied`, webhook_secret: webhookSecret } });
    expect(submitted.status).toBe(202);
    expect((await waitForTask(gateway.url, secret, submitted.body.id)).status).toBe('succeeded');
    await eventually(async () => (await call(gateway.url, `/v1/images/tasks/${submitted.body.id}`, { key: secret })).body.webhook?.status === 'delivered' || undefined, 'the first delivery');
    expect((await admin(gateway, 'PUT', '/prices/dall-e-3', { per_image: { '*': { '*': '0.09' } } })).status).toBe(200);
    expect((await admin(gateway, 'POST', '/channels', { name: 'moved-channel', provider: 'offline', models: ['dall-e-3', 'dall-e-2'] })).status).toBe(201);
    before.keyId = id;
    before.secret = secret;
    before.balance = (await admin(gateway, 'GET', `/keys/${id}`)).body.balance;
    before.usage = (await admin(gateway, 'GET', `/usage?key=${id}&limit=100`)).body.data.length;
    before.taskId = submitted.body.id;
    before.channels = (await admin(gateway, 'GET', '/channels')).body.data.map((channel: { name: string }) => channel.name);
  } finally {
    await gateway.close();
  }
}, 60_000);

afterAll(async () => {
  await receiver?.close();
  await schema?.drop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('imagegate db copy', () => {
  it('explains itself with --help', async () => {
    const help = await imagegate(['db', 'copy', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('usage: imagegate db copy --from <sqlite path> --to <postgres url>');
    const wrong = await imagegate(['db', 'copy', '--from', join(dataDir, 'imagegate.sqlite')]);
    expect(wrong.code).toBe(2);
  });

  it('copies every table into an empty Postgres schema and verifies counts and money totals', async () => {
    const copied = await imagegate(['db', 'copy', '--from', join(dataDir, 'imagegate.sqlite'), '--to', schema.url]);
    expect(copied.stderr).toBe('');
    expect(copied.code).toBe(0);
    expect(copied.stdout).toMatch(/verified: \d+ rows in \d+ tables and every money total match the source/);
    expect(copied.stdout).toMatch(/api_keys\s+2\s+2/);
    expect(copied.stdout).toMatch(/billing_usage\s+4\s+4/);
    expect(copied.stdout).not.toContain('MISMATCH');
    const [key] = (await runOnTestServer(`SELECT balance::text FROM "${schema.schema}".api_keys WHERE id = $1`, [before.keyId])).rows as Array<{ balance: string }>;
    expect(key?.balance).toBe(String(before.balance));
    expect(before.balance).toBe(15 * cheapImageCredits - 4 * cheapImageCredits);
  }, 60_000);

  it('serves the same deployment from Postgres: key, balance, usage, task, price and channel', async () => {
    const gateway = await startBillingGateway({ dataDir, databaseUrl: schema.url });
    try {
      expect((await admin(gateway, 'GET', `/keys/${before.keyId}`)).body.balance).toBe(before.balance);
      expect((await admin(gateway, 'GET', `/usage?key=${before.keyId}&limit=100`)).body.data).toHaveLength(before.usage);
      const task = await call(gateway.url, `/v1/images/tasks/${before.taskId}`, { key: before.secret });
      expect(task.status).toBe(200);
      expect(task.body.status).toBe('succeeded');
      const image = task.body.result.data[0];
      const bytes = image.b64_json === undefined ? Buffer.from(await (await fetch(image.url)).arrayBuffer()) : Buffer.from(image.b64_json, 'base64');
      expect((await sharp(bytes).metadata()).width).toBe(256);
      expect((await admin(gateway, 'GET', '/prices/dall-e-3')).body.price).toEqual({ per_image: { '*': { '*': '0.09' } } });
      expect((await admin(gateway, 'GET', '/channels')).body.data.map((channel: { name: string }) => channel.name)).toEqual(before.channels);

      // The task's webhook secret was copied sealed, and the copy opens it: a retried delivery is signed with it.
      const [delivery] = (await runOnTestServer(`SELECT secret FROM "${schema.schema}".webhook_deliveries WHERE task_id = $1`, [before.taskId])).rows as Array<{ secret: string }>;
      expect(delivery?.secret).toMatch(/^enc:v1:/);
      expect(delivery?.secret).not.toContain(webhookSecret);
      const deliveredBefore = receiver.received.length;
      expect((await admin(gateway, 'POST', `/tasks/${before.taskId}/retry-webhook`)).status).toBe(200);
      const retried = await eventually(async () => receiver.received[deliveredBefore], 'the retried delivery');
      const headers = { id: String(retried.headers['webhook-id']), timestamp: String(retried.headers['webhook-timestamp']), signature: String(retried.headers['webhook-signature']) };
      expect(verifyWebhook(webhookSecret, headers, retried.body, Math.floor(Date.now() / 1000))).toBe(true);

      // The moved key keeps spending from the moved balance, and top-ups continue the ledger.
      expect((await generate(gateway, before.secret, cheapImage)).status).toBe(200);
      expect((await admin(gateway, 'GET', `/keys/${before.keyId}`)).body.balance).toBe(before.balance - cheapImageCredits);
      expect((await admin(gateway, 'POST', `/keys/${before.keyId}/topup`, { amount: 1000 })).status).toBe(200);
      expect(await gateway.gateway.billing.account(before.keyId)).toEqual({ balance: before.balance - cheapImageCredits + 1000, granted: 15 * cheapImageCredits + 1000, charged: 5 * cheapImageCredits, held: 0 });
    } finally {
      await gateway.close();
    }
  }, 60_000);

  it('refuses a target that already holds rows, and an unreachable server, saying why', async () => {
    const again = await imagegate(['db', 'copy', '--from', join(dataDir, 'imagegate.sqlite'), '--to', schema.url]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/refused: the target is not empty \(table \w+ has rows\)/);
    const closed = await imagegate(['db', 'copy', '--from', join(dataDir, 'imagegate.sqlite'), '--to', 'postgres://postgres:secret-pw@127.0.0.1:1/test']);
    expect(closed.code).toBe(1);
    expect(closed.stderr).toMatch(/cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:1\/test/);
    expect(closed.stderr).not.toContain('secret-pw');
  }, 60_000);
});
