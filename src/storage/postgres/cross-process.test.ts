// Several processes on one PostgreSQL schema at once: reservations on one quota charge exactly what
// the balance covers, and concurrent claims hand every task to exactly one process.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPriceFile } from '../../billing/price-file.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { newKeyRecord } from '../../core/api-keys.js';
import { systemClock } from '../../core/ports/clock.js';
import { makeTask } from '../../testing/conformance/task-store.conformance.js';
import { createTestSchema, type TestSchema } from '../../testing/postgres.js';
import type { DatabaseStores } from '../storage.js';
import { openPostgresStorage } from './postgres-storage.js';
import type { PostgresRaceReport } from './race-worker.fixture.js';

const script = fileURLToPath(new URL('./race-worker.fixture.ts', import.meta.url));

function runWorker(args: string[]): Promise<PostgresRaceReport> {
  return new Promise((resolve, reject) => {
    const child = fork(script, args, { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.once('message', (message) => resolve(message as PostgresRaceReport));
    child.once('exit', (code) => reject(new Error(`worker ${args.join(' ')} exited with ${code} before reporting`)));
  });
}

let schema: TestSchema;
let stores: DatabaseStores;

beforeAll(async () => {
  schema = createTestSchema('cross_process');
  stores = await openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 4 });
});

afterAll(async () => {
  await stores?.close();
  await schema?.drop();
});

describe('PostgreSQL shared by several processes', () => {
  it('three processes × 25 concurrent reservations on a 37-image quota charge exactly 37', async () => {
    const prices = await PriceOverrides.open(stores.prices, readPriceFile(), systemClock);
    const billing = stores.billing(prices.book);
    const key = { ...newKeyRecord(`sk-race-${Math.random()}`, { name: 'race', source: 'admin', now: Date.now() }), balance: 0 };
    await stores.keys.insert(key);
    await billing.topUp(key.id, 16_000 * 37, 'race', 'initial');

    const reports = (await Promise.all(['a', 'b', 'c'].map((owner) => runWorker(['billing', schema.url, key.id, '25', owner])))) as Array<{ charged: number; refused: number; failures: string[] }>;

    expect(reports.flatMap((report) => report.failures)).toEqual([]);
    expect(reports.reduce((total, report) => total + report.charged, 0)).toBe(37);
    expect(reports.reduce((total, report) => total + report.refused, 0)).toBe(75 - 37);
    expect(await billing.balance(key.id)).toBe(0);
    const usage = await billing.listUsage({ keyId: key.id, limit: 1000 });
    expect(usage).toHaveLength(37);
    expect(usage.reduce((total, row) => total + row.amount, 0)).toBe(16_000 * 37);
    expect(await billing.account(key.id)).toEqual({ balance: 0, granted: 16_000 * 37, charged: 16_000 * 37, held: 0 });
  }, 60_000);

  it('three processes claiming 90 queued tasks at once take each exactly once (FOR UPDATE SKIP LOCKED)', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 90; index += 1) {
      const task = makeTask(`claim_${String(index).padStart(3, '0')}`, { keyId: `key_${index % 5}`, createdAt: 1_000 + index });
      await stores.tasks.create(task);
      ids.push(task.id);
    }

    const reports = (await Promise.all(['p1', 'p2', 'p3'].map((owner) => runWorker(['claim', schema.url, owner])))) as Array<{ claimed: string[]; failures: string[] }>;

    expect(reports.flatMap((report) => report.failures)).toEqual([]);
    const claimed = reports.flatMap((report) => report.claimed);
    expect(claimed.toSorted()).toEqual(ids);
    expect(new Set(claimed).size).toBe(90);
    for (const id of ids) {
      const task = await stores.tasks.get(id);
      expect(task).toMatchObject({ status: 'in_progress', attempts: 1 });
      expect(['p1', 'p2', 'p3']).toContain(task?.leaseOwner);
    }
  }, 60_000);
});
