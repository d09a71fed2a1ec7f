// Issue 9, item 1 and issue 15, target 2: a gateway killed with SIGKILL while synchronous requests
// are in flight leaves their reservations held; the process that takes over (here: the same data dir
// restarted) sweeps them once the dead process's lease has lapsed. The books balance
// (granted = balance + charged + held) with nothing held, and every request the client saw succeed
// was charged exactly once.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { adminToken } from '../billing-support.js';
import { children, kill9, startChild, stop } from '../child-gateway.js';
import { call, queryDatabase, sleep } from '../task-helpers.js';

const oneImage = 16_000;

interface Books {
  granted: number;
  balance: number;
  charged: number;
  held: number;
}

function books(dataDir: string, keyId: string): Books {
  const one = (query: string) => queryDatabase<{ total: number | null }>(dataDir, query, keyId)[0]?.total ?? 0;
  return {
    granted: one('SELECT SUM(amount) AS total FROM billing_ledger WHERE key_id = ?'),
    balance: one('SELECT balance AS total FROM api_keys WHERE id = ?'),
    charged: one('SELECT SUM(amount) AS total FROM billing_usage WHERE key_id = ? AND metered = 1'),
    held: one("SELECT SUM(debited) AS total FROM billing_reservations WHERE key_id = ? AND status = 'held'"),
  };
}

describe('a gateway killed with SIGKILL during synchronous requests', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'imagegate-billing-crash-'));
  });
  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  afterAll(async () => rm(folder, { recursive: true, force: true }));

  it('returns every held reservation after a restart; each success the client saw is charged once', { timeout: 90_000 }, async () => {
    const dataDir = join(folder, 'data');
    const config = join(folder, 'gateway.yaml');
    // Offline images take 150 ms, so a kill finds requests between reserve and settle.
    await writeFile(config, ['offline:', '  latency_ms: 150', 'tasks:', '  lease_ms: 1000', '  sync_timeout_ms: 2000', ''].join('\n'));
    const env = { IMAGEGATE_ADMIN_TOKEN: adminToken };
    let gateway = await startChild(dataDir, config, env);

    const created = await call(gateway.url, '/admin/v1/keys', { key: adminToken, json: { name: 'crash', quota: 10_000 * oneImage } });
    expect(created.status).toBe(201);
    const { id: keyId, secret } = created.body as { id: string; secret: string };

    // 24 clients in closed loops, each request labelled with its own X-Request-Id.
    const succeeded: string[] = [];
    let sent = 0;
    let killed = false;
    const client = async () => {
      while (!killed) {
        const requestId = `crash-${(sent += 1)}`;
        const answer = await call(gateway.url, '/v1/images/generations', {
          key: secret,
          headers: { 'x-request-id': requestId },
          json: { model: 'dall-e-2', prompt: 'a kettle', size: '256x256', response_format: 'b64_json' },
        }).catch(() => undefined);
        if (answer?.status === 200 && answer.body.data?.length === 1) succeeded.push(requestId);
        else if (answer !== undefined && !killed) throw new Error(`request ${requestId} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      }
    };
    const clients = Array.from({ length: 24 }, () => client());
    while (succeeded.length < 60) await sleep(20);
    killed = true;
    await kill9(gateway);
    await Promise.all(clients);

    // The defect's precondition: the dead process left credits held.
    const atCrash = books(dataDir, keyId);
    expect(atCrash.held).toBeGreaterThan(0);
    expect(atCrash.granted).toBe(atCrash.balance + atCrash.charged + atCrash.held);

    gateway = await startChild(dataDir, config, env);
    const deadline = Date.now() + 30_000;
    while (books(dataDir, keyId).held > 0 && Date.now() < deadline) await sleep(100);
    const after = books(dataDir, keyId);
    expect(after.held).toBe(0);
    expect(after.granted).toBe(after.balance + after.charged);

    // Every success the client saw has exactly one usage row for one image; nothing is charged twice.
    const usage = queryDatabase<{ reservation_id: string; images_delivered: number; amount: number }>(
      dataDir,
      'SELECT reservation_id, images_delivered, amount FROM billing_usage WHERE key_id = ?',
      keyId,
    );
    const charged = new Map(usage.map((row) => [row.reservation_id, row]));
    expect(charged.size).toBe(usage.length);
    for (const requestId of succeeded) expect(charged.get(requestId)).toMatchObject({ images_delivered: 1, amount: oneImage });
    expect(after.charged).toBe(usage.length * oneImage);
    const swept = queryDatabase<{ n: number }>(dataDir, "SELECT COUNT(*) AS n FROM billing_reservations WHERE key_id = ? AND status = 'swept'", keyId)[0]?.n ?? 0;
    expect(swept).toBe(atCrash.held / oneImage);

    // The restarted gateway serves and bills as before.
    const next = await call(gateway.url, '/v1/images/generations', { key: secret, json: { model: 'dall-e-2', prompt: 'after', size: '256x256' } });
    expect(next.status).toBe(200);
    expect(books(dataDir, keyId).balance).toBe(after.balance - oneImage);
    await stop(gateway);
  });
});
