// A child process for the cross-process Postgres tests: its own pool on the shared schema, then
// either reserving and settling one-image requests all at once (`billing`), or claiming tasks until
// none is left (`claim`), and reporting what it got to the parent.
// Usage: fork('race-worker.fixture.ts', ['billing', url, keyId, attempts, owner] | ['claim', url, owner], { execArgv: ['--import', 'tsx'] })

import pino from 'pino';
import { readPriceFile } from '../../billing/price-file.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { systemClock } from '../../core/ports/clock.js';
import { raceReservations } from '../../testing/billing-race.js';
import { openPostgresStorage } from './postgres-storage.js';

export type PostgresRaceReport = { charged: number; refused: number; failures: string[] } | { claimed: string[]; failures: string[] };

const [mode, url, ...rest] = process.argv.slice(2);
if ((mode !== 'billing' && mode !== 'claim') || url === undefined) throw new Error('usage: race-worker billing|claim <database url> …');
const stores = await openPostgresStorage({ url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 8 });

async function raceBilling(keyId: string, attempts: number, owner: string): Promise<PostgresRaceReport> {
  const prices = await PriceOverrides.open(stores.prices, readPriceFile(), systemClock);
  const billing = stores.billing(prices.book);
  return raceReservations(billing, keyId, attempts, owner);
}

async function raceClaims(owner: string): Promise<PostgresRaceReport> {
  const claimed: string[] = [];
  const failures: string[] = [];
  // Four claim loops in this process at once, as four idle workers would run.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (;;) {
        const now = Date.now();
        try {
          const task = await stores.tasks.claim(owner, now, now + 60_000, { fairness: { recentlyServedKeys: [] } });
          if (task === undefined) return;
          claimed.push(task.id);
        } catch (error) {
          failures.push(String(error));
          return;
        }
      }
    }),
  );
  return { claimed, failures };
}

const report = mode === 'billing' ? await raceBilling(rest[0] ?? '', Number(rest[1]), rest[2] ?? '') : await raceClaims(rest[0] ?? '');
await stores.close();
process.send?.(report, () => process.disconnect());
