// A child process for the cross-process billing test: its own connection to the database file,
// reserving and settling one-image requests as fast as it can, then reporting how many got through.
// Usage: fork('billing-race.fixture.ts', [databaseFile, keyId, attempts, owner], { execArgv: ['--import', 'tsx'] })

import { systemClock } from '../../core/ports/clock.js';
import { openSqliteDatabase } from './database.js';
import { readPriceFile } from '../../billing/price-file.js';
import { SqliteBilling } from './billing.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { SqlPriceStore } from '../sql/price-store.js';

export interface BillingRaceReport {
  charged: number;
  refused: number;
  failures: string[];
}

const [file, keyId, attemptsText, owner] = process.argv.slice(2);
if (file === undefined || keyId === undefined || attemptsText === undefined || owner === undefined) {
  throw new Error('usage: billing-race <database file> <key id> <attempts> <owner>');
}
const database = openSqliteDatabase({ file });
const prices = await PriceOverrides.open(new SqlPriceStore(database.db), readPriceFile(), systemClock);
const billing = new SqliteBilling({ database, prices: prices.book, clock: systemClock });

const report: BillingRaceReport = { charged: 0, refused: 0, failures: [] };
// Every attempt in flight at once within this process too: the lock has to hold across both.
await Promise.all(
  Array.from({ length: Number(attemptsText) }, async (_, index) => {
    const reservationId = `${owner}-${index}`;
    try {
      await billing.reserve({ reservationId, keyId, model: 'dall-e-2', operation: 'generate', imagesRequested: 1, size: '256x256', quality: 'standard', promptCharacters: 10, inputImages: 0 });
    } catch (error) {
      if ((error as { code?: string }).code === 'insufficient_quota') report.refused += 1;
      else report.failures.push(String(error));
      return;
    }
    await billing.settle({ keyId, reservationId }, { imagesDelivered: 1 });
    report.charged += 1;
  }),
);
await database.close();
process.send?.(report, () => process.disconnect());
