// SqliteBilling: the BillingStore conformance suite on a real SQLite file, and the same file
// shared by several processes, each reserving at once — the balance is never overdrawn.

import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { newKeyRecord } from '../../core/api-keys.js';
import { systemClock } from '../../core/ports/clock.js';
import { describeBillingConformance } from '../../testing/conformance/billing.conformance.js';
import { openSqliteDatabase } from './database.js';
import { SqlKeyStore } from '../sql/key-store.js';
import { migrate } from './migrate.js';
import type { BillingRaceReport } from '../../testing/billing-race.js';
import { readPriceFile } from '../../billing/price-file.js';
import { SqliteBilling } from './billing.js';
import { SqliteTaskStore } from './task-store.js';
import { SqliteTaskEventStore } from './task-event-store.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { SqlPriceStore } from '../sql/price-store.js';

async function openBilling(clock = systemClock) {
  const folder = await mkdtemp(join(tmpdir(), 'imagegate-billing-'));
  const file = join(folder, 'billing.sqlite');
  const database = openSqliteDatabase({ file });
  await migrate(database.db);
  const prices = await PriceOverrides.open(new SqlPriceStore(database.db), readPriceFile(), clock);
  const others: Array<{ close(): Promise<void> }> = [];
  const tasks = new SqliteTaskStore(database);
  const taskEvents = new SqliteTaskEventStore(database);
  return {
    file,
    keys: new SqlKeyStore(database.db),
    tasks,
    taskEvents,
    billing: new SqliteBilling({ database, prices: prices.book, clock, tasks, taskEvents }),
    prices,
    /** Another process: its own connection to the file, its own process id. */
    otherProcess: async () => {
      const other = openSqliteDatabase({ file });
      others.push(other);
      const otherPrices = await PriceOverrides.open(new SqlPriceStore(other.db), readPriceFile(), clock);
      return new SqliteBilling({ database: other, prices: otherPrices.book, clock });
    },
    cleanup: async () => {
      for (const other of others) await other.close();
      await database.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

describeBillingConformance('SqliteBilling', async (clock) => {
  const opened = await openBilling(clock);
  return {
    billing: opened.billing,
    otherProcess: opened.otherProcess,
    keys: opened.keys,
    tasks: opened.tasks,
    taskEvents: opened.taskEvents,
    setPrice: async (model, spec) => void (await opened.prices.setModelPrice(model, spec)),
    cleanup: opened.cleanup,
  };
});

describe('SqliteBilling across processes', () => {
  it('four processes sharing one file charge exactly what the balance covers, never more', async () => {
    const opened = await openBilling();
    try {
      const script = fileURLToPath(new URL('./billing-race.fixture.ts', import.meta.url));
      const key = { ...newKeyRecord(`sk-race-${Math.random()}`, { name: 'race', source: 'admin', now: Date.now() }), balance: 0 };
      await opened.keys.insert(key);
      await opened.billing.topUp(key.id, 16_000 * 37, 'race', 'initial');
      const reports = await Promise.all(
        ['a', 'b', 'c', 'd'].map(
          (owner) =>
            new Promise<BillingRaceReport>((resolve, reject) => {
              const child = fork(script, [opened.file, key.id, '25', owner], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
              child.once('message', (message) => resolve(message as BillingRaceReport));
              child.once('exit', (code) => reject(new Error(`worker ${owner} exited with ${code} before reporting`)));
            }),
        ),
      );
      expect(reports.flatMap((report) => report.failures)).toEqual([]);
      expect(reports.reduce((total, report) => total + report.charged, 0)).toBe(37);
      expect(reports.reduce((total, report) => total + report.refused, 0)).toBe(100 - 37);
      expect(await opened.billing.balance(key.id)).toBe(0);
      expect(await opened.billing.listUsage({ keyId: key.id, limit: 1000 })).toHaveLength(37);
      expect(await opened.billing.account(key.id)).toEqual({ balance: 0, granted: 16_000 * 37, charged: 16_000 * 37, held: 0 });
    } finally {
      await opened.cleanup();
    }
  }, 25_000);
});
