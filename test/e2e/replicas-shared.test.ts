// Three gateway processes on one database: what one replica's admin API changes (a key revoked, a
// channel disabled) is honoured by the others within 5 s through the database's change counters, and
// within 1 s with Redis (pub/sub). With Redis the replicas also share rate limits and concurrency
// slots: a key limited to 10 images a minute gets exactly 10, whichever replicas its requests reach;
// a quota of 37 images hammered by 200 concurrent requests over the three is charged exactly 37.
//
// The database is one SQLite data dir shared by the processes; the same tests run on one Postgres
// schema once that backend is configured through the replicas' environment.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../../src/testing/redis.js';
import { adminToken, call, cheapImage, cheapImageCredits } from './billing-support.js';
import { children, type ChildGateway } from './child-gateway.js';
import { startReplicas, stopReplicas, untilHonoured } from './replica-rig.js';
import { queryDatabase } from './task-helpers.js';

const config = ['channels:', '  - name: drawing', '    provider: offline', '    models: [dall-e-2]', ''].join('\n');

interface Deployment {
  replicas: ChildGateway[];
  dataDir: string;
}

function useDeployment(label: string, env: () => Record<string, string>): () => Deployment {
  let deployment: Deployment | undefined;
  let folder: string | undefined;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), `imagegate-replicas-${label}-`));
    const configFile = join(folder, 'gateway.yaml');
    await writeFile(configFile, config);
    deployment = { replicas: await startReplicas({ folder, configFile, count: 3, env: env() }), dataDir: join(folder, 'data') };
  }, 90_000);
  afterAll(async () => {
    if (deployment !== undefined) await stopReplicas(deployment.replicas);
    for (const child of children) child.kill('SIGKILL');
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });
  return () => {
    if (deployment === undefined) throw new Error('the replicas did not start');
    return deployment;
  };
}

const admin = (replica: ChildGateway, method: string, path: string, body?: unknown) => call(`${replica.url}/admin/v1${path}`, { method, token: adminToken, body });
const generate = (replica: ChildGateway, secret: string, extra: Record<string, unknown> = {}) =>
  call(`${replica.url}/v1/images/generations`, { token: secret, body: { prompt: 'a replica lighthouse', ...cheapImage, ...extra } });

async function createKey(replica: ChildGateway, body: Record<string, unknown>): Promise<{ id: string; secret: string }> {
  const answer = await admin(replica, 'POST', '/keys', { name: 'replica key', ...body });
  if (answer.status !== 201) throw new Error(`creating a key answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  return { id: answer.body.id, secret: answer.body.secret };
}

/** A key revoked on the first replica stops working on the other two within `deadlineMs`. */
async function revokedKeyIsRefusedEverywhere(deployment: Deployment, deadlineMs: number): Promise<void> {
  const [first, ...others] = deployment.replicas as [ChildGateway, ...ChildGateway[]];
  const { id, secret } = await createKey(first, { unlimited: true });
  // Every replica has the key cached as valid.
  for (const replica of others) expect((await call(`${replica.url}/v1/models`, { token: secret })).status).toBe(200);
  expect((await admin(first, 'POST', `/keys/${id}/revoke`)).status).toBe(200);
  const since = Date.now();
  const took = await untilHonoured(others, async (replica) => (await call(`${replica.url}/v1/models`, { token: secret })).status === 401, since, deadlineMs);
  expect(took).toBeLessThan(deadlineMs);
}

/** A channel disabled on the first replica stops serving on the other two within `deadlineMs`, and comes back when enabled. */
async function disabledChannelIsHonouredEverywhere(deployment: Deployment, deadlineMs: number): Promise<void> {
  const [first, ...others] = deployment.replicas as [ChildGateway, ...ChildGateway[]];
  const { secret } = await createKey(first, { unlimited: true });
  for (const replica of others) expect((await generate(replica, secret)).status).toBe(200);
  expect((await admin(first, 'POST', '/channels/drawing/disable')).status).toBe(200);
  const since = Date.now();
  const took = await untilHonoured(
    others,
    async (replica) => {
      const answer = await generate(replica, secret);
      return answer.status === 503 && answer.body.error?.message === 'No enabled channel serves dall-e-2.';
    },
    since,
    deadlineMs,
  );
  expect(took).toBeLessThan(deadlineMs);
  expect((await admin(first, 'POST', '/channels/drawing/enable')).status).toBe(200);
  const back = await untilHonoured(others, async (replica) => (await generate(replica, secret)).status === 200, Date.now(), deadlineMs);
  expect(back).toBeLessThan(deadlineMs);
}

describe('three replicas on one database, without Redis', () => {
  const deployment = useDeployment('db', () => ({}));

  it('a key revoked through one replica is refused by the others within 5 s', { timeout: 30_000 }, async () => {
    await revokedKeyIsRefusedEverywhere(deployment(), 5_000);
  });

  it('a channel disabled through one replica is honoured by the others within 5 s', { timeout: 30_000 }, async () => {
    await disabledChannelIsHonouredEverywhere(deployment(), 5_000);
  });
});

describe('three replicas on one database and one Redis', () => {
  const prefix = uniqueRedisPrefix('replicas');
  const deployment = useDeployment('redis', () => ({ IMAGEGATE_REDIS_URL: testRedisUrl, IMAGEGATE_REDIS_PREFIX: prefix }));
  afterAll(async () => deleteRedisPrefix(prefix));

  it('a key limited to 10 images a minute gets exactly 10 across the three', { timeout: 60_000 }, async () => {
    const { replicas } = deployment();
    const { secret } = await createKey(replicas[0]!, { unlimited: true, rate_limits: { images_per_minute: 10 } });
    const answers = await Promise.all(Array.from({ length: 30 }, (_, index) => generate(replicas[index % 3]!, secret)));
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(10);
    const refused = answers.filter((answer) => answer.status !== 200);
    expect(refused).toHaveLength(20);
    for (const answer of refused) expect([answer.status, answer.body.error?.code]).toEqual([429, 'rate_limit_exceeded']);
    // Every replica took part in both outcomes: the limit is not per process.
    for (const [index, replica] of replicas.entries()) {
      expect(answers.some((answer, position) => position % 3 === index && answer.status === 429), `replica ${replica.pid} refused some`).toBe(true);
    }
  });

  it('a quota of 37 images hammered by 200 concurrent requests over the three is charged exactly 37', { timeout: 120_000 }, async () => {
    const { replicas, dataDir } = deployment();
    const { id, secret } = await createKey(replicas[0]!, { quota: 37 * cheapImageCredits });
    const answers = await Promise.all(Array.from({ length: 200 }, (_, index) => generate(replicas[index % 3]!, secret)));
    const delivered = answers.filter((answer) => answer.status === 200);
    expect(delivered).toHaveLength(37);
    for (const answer of answers) if (answer.status !== 200) expect(answer.body.error?.code).toBe('insufficient_quota');
    const account = await admin(replicas[1]!, 'GET', `/keys/${id}`);
    expect(account.body.balance).toBe(0);
    const usage = queryDatabase<{ rows: number; charged: number }>(dataDir, 'SELECT COUNT(*) AS rows, SUM(amount) AS charged FROM billing_usage WHERE key_id = ?', id)[0];
    expect(usage).toEqual({ rows: 37, charged: 37 * cheapImageCredits });
  });

  it('a key revoked through one replica is refused by the others within 1 s', { timeout: 30_000 }, async () => {
    await revokedKeyIsRefusedEverywhere(deployment(), 1_000);
  });

  it('a channel disabled through one replica is honoured by the others within 1 s', { timeout: 30_000 }, async () => {
    await disabledChannelIsHonouredEverywhere(deployment(), 1_000);
  });
});
