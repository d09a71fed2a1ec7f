// A child process for the cross-process billing test: its own connection to the database file,
// reserving and settling one-image requests as fast as it can, then reporting how many got through.
// Usage: fork('billing-race.fixture.ts', [databaseFile, keyId, attempts, owner], { execArgv: ['--import', 'tsx'] })

import { systemClock } from '../../core/ports/clock.js';
import { openSqliteDatabase } from './database.js';
import { readPriceFile } from '../../billing/price-file.js';
import { SqliteBilling } from './billing.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { SqlPriceStore } from '../sql/price-store.js';
import { raceReservations } from '../../testing/billing-race.js';

const [file, keyId, attemptsText, owner] = process.argv.slice(2);
if (file === undefined || keyId === undefined || attemptsText === undefined || owner === undefined) {
  throw new Error('usage: billing-race <database file> <key id> <attempts> <owner>');
}
const database = openSqliteDatabase({ file });
const prices = await PriceOverrides.open(new SqlPriceStore(database.db), readPriceFile(), systemClock);
const billing = new SqliteBilling({ database, prices: prices.book, clock: systemClock });

const report = await raceReservations(billing, keyId, Number(attemptsText), owner);
await database.close();
process.send?.(report, () => process.disconnect());
