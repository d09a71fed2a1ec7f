// `node --import tsx bench/micro/billing.ts [BATCH] [ROUNDS]`: CPU microseconds per request of
// SqliteBilling's reserve + settle alone (no HTTP), BATCH requests at a time (one group-commit batch
// each way), as sqlite-storage opens the database (WAL, background checkpoints). Reservation ids are
// made as the gateway makes request ids. CPU includes the checkpointer thread. Compare two checkouts
// by running it in each, alternately: the machine's load moves single runs by ±20 %.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKeyRecord } from '../../src/core/api-keys.js';
import { systemClock } from '../../src/core/ports/clock.js';
import { newRequestId } from '../../src/http/request-id.js';
import { openSqliteDatabase } from '../../src/storage/sqlite/database.js';
import { SqlKeyStore } from '../../src/storage/sql/key-store.js';
import { migrate } from '../../src/storage/sqlite/migrate.js';
import { readPriceFile } from '../../src/billing/price-file.js';
import { SqliteBilling } from '../../src/storage/sqlite/billing.js';
import { PriceOverrides } from '../../src/billing/price-overrides.js';
import { SqlPriceStore } from '../../src/storage/sql/price-store.js';

const batch = Number(process.argv[2] ?? 32);
const rounds = Number(process.argv[3] ?? 600);
const folder = await mkdtemp(join(tmpdir(), 'imagegate-micro-billing-'));
const database = openSqliteDatabase({ file: join(folder, 'billing.sqlite'), backgroundCheckpoints: true });
await migrate(database.db);
const prices = await PriceOverrides.open(new SqlPriceStore(database.db), readPriceFile(), systemClock);
const billing = new SqliteBilling({ database, prices: prices.book, clock: systemClock });
const key = newKeyRecord('sk-micro-0123456789abcdef', { name: 'micro', source: 'admin', now: Date.now() });
await new SqlKeyStore(database.db).insert(key);
await billing.setMetered(key.id, true, 1e14);

const request = async () => {
  const reservationId = newRequestId();
  await billing.reserve({ reservationId, keyId: key.id, model: 'dall-e-2', operation: 'generate', imagesRequested: 1, size: '256x256', promptCharacters: 20, inputImages: 0 });
  await billing.settle({ keyId: key.id, reservationId }, { imagesDelivered: 1, channel: 'bench', provider: 'openai' });
};
const runRounds = async (count: number) => {
  for (let round = 0; round < count; round += 1) await Promise.all(Array.from({ length: batch }, request));
};
await runRounds(100);
const before = process.cpuUsage();
const started = performance.now();
await runRounds(rounds);
const used = process.cpuUsage(before);
const requests = batch * rounds;
process.stdout.write(
  `billing, batches of ${batch}: ${((used.user + used.system) / requests).toFixed(1)} µs CPU/request (user ${(used.user / requests).toFixed(1)}, ` +
    `system ${(used.system / requests).toFixed(1)}), ${Math.round(requests / ((performance.now() - started) / 1000))} req/s\n`,
);
await database.close();
await rm(folder, { recursive: true, force: true });
