// `server.workers: 2`: two processes on one port (node:cluster). Rate limits and quotas are exact
// across them — counted in the cluster's primary and in the shared SQLite file, not per process.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminToken } from './billing-support.js';
import { children, startChild, stop, type ChildGateway } from './child-gateway.js';
import { call, queryDatabase, sleep } from './task-helpers.js';

/** An OpenAI-style upstream that answers at once, or holds every request while `holding`. */
async function startUpstream() {
  // A 1x1 PNG, as an images API answers base64 (https://platform.openai.com/docs/api-reference/images/object).
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const body = JSON.stringify({ created: 1_700_000_000, data: [{ b64_json: png }] });
  const held: ServerResponse[] = [];
  let holding = false;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (holding) held.push(response);
      else response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    held,
    hold: () => void (holding = true),
    release() {
      holding = false;
      for (const response of held.splice(0)) response.writeHead(200, { 'content-type': 'application/json' }).end(body);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const request = { model: 'dall-e-2', prompt: 'a kettle', size: '256x256', response_format: 'b64_json' };

describe('server.workers: 2', () => {
  let folder: string;
  let dataDir: string;
  let gateway: ChildGateway;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;

  beforeAll(async () => {
    upstream = await startUpstream();
    folder = await mkdtemp(join(tmpdir(), 'imagegate-workers-'));
    dataDir = join(folder, 'data');
    const config = join(folder, 'gateway.yaml');
    await writeFile(
      config,
      ['server:', '  workers: 2', 'channels:', '  - name: upstream', '    provider: openai', `    base_url: ${upstream.url}/v1`, '    api_key: sk-upstream', '    models: [dall-e-2]', ''].join('\n'),
    );
    gateway = await startChild(dataDir, config, { IMAGEGATE_ADMIN_TOKEN: adminToken });
  }, 60_000);
  afterAll(async () => {
    await stop(gateway);
    for (const child of children) child.kill('SIGKILL');
    await upstream.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('runs two worker processes, each with its own lease in the database', async () => {
    // The first worker listens first (the child is reported started then); the second follows it.
    const count = () => queryDatabase<{ n: number }>(dataDir, 'SELECT COUNT(*) AS n FROM gateway_processes')[0]?.n ?? 0;
    for (let rounds = 0; count() < 2 && rounds < 1000; rounds += 1) await sleep(20);
    expect(count()).toBe(2);
  });

  it('holds a per-key limit of 12 requests a minute exactly across both workers', async () => {
    const created = await call(gateway.url, '/admin/v1/keys', { key: adminToken, json: { name: 'limited', unlimited: true, rate_limits: { requests_per_minute: 12 } } });
    expect(created.status).toBe(201);
    const answers = await Promise.all(Array.from({ length: 40 }, () => call(gateway.url, '/v1/images/generations', { key: created.body.secret, json: request })));
    const statuses = answers.map((answer) => answer.status);
    expect(statuses.filter((status) => status === 200)).toHaveLength(12);
    expect(statuses.filter((status) => status === 429)).toHaveLength(28);
  });

  it('holds two concurrent slots exactly across both workers', async () => {
    const created = await call(gateway.url, '/admin/v1/keys', { key: adminToken, json: { name: 'slots', unlimited: true, rate_limits: { concurrent_requests: 2 } } });
    upstream.hold();
    const pending = Array.from({ length: 12 }, () => call(gateway.url, '/v1/images/generations', { key: created.body.secret, json: request }));
    // The refused answer at once; the admitted wait at the upstream. Counted per process, each worker would admit two.
    const settled: number[] = [];
    pending.forEach((answer) => void answer.then((response) => settled.push(response.status)));
    for (let rounds = 0; settled.length < 10 || upstream.held.length < 2; rounds += 1) {
      if (rounds > 1000) throw new Error(`only ${settled.length} answers while the upstream holds ${upstream.held.length}`);
      await sleep(10);
    }
    expect(settled).toEqual(Array(10).fill(429));
    expect(upstream.held).toHaveLength(2);
    upstream.release();
    const answers = await Promise.all(pending);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(2);
  });

  it('spends a quota of exactly 7 images across both workers, never more', async () => {
    // What one request reserves, as the gateway itself states it to a key that cannot afford it.
    const probe = await call(gateway.url, '/admin/v1/keys', { key: adminToken, json: { name: 'probe', quota: 1 } });
    const refused = await call(gateway.url, '/v1/images/generations', { key: probe.body.secret, json: request });
    const perRequest = Number(/\((\d+) credits\) and the key/.exec(refused.body.error.message)?.[1]);
    expect(perRequest).toBeGreaterThan(0);
    const created = await call(gateway.url, '/admin/v1/keys', { key: adminToken, json: { name: 'quota', quota: 7 * perRequest } });
    const answers = await Promise.all(Array.from({ length: 30 }, () => call(gateway.url, '/v1/images/generations', { key: created.body.secret, json: request })));
    expect(answers.filter((answer) => answer.status !== 200 && answer.body.error?.code !== 'insufficient_quota').map((answer) => answer.body)).toEqual([]);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(7);
    expect(answers.filter((answer) => answer.status === 429 && answer.body.error.code === 'insufficient_quota')).toHaveLength(23);
    const balance = queryDatabase<{ balance: number }>(dataDir, 'SELECT balance FROM api_keys WHERE id = ?', created.body.id)[0]?.balance;
    expect(balance).toBe(0);
  });
});
