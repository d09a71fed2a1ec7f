// `node --import tsx bench/micro/commit-wait.ts [RATE] [SECONDS]`: how long requests wait for their
// billing writes, with no HTTP. Random (Poisson) arrivals at RATE per second, each a reserve, a
// simulated 1 ms upstream call, a settle and a request-log entry, on SQLite opened as the gateway
// opens it (WAL, group commit, the background checkpointer bounding the WAL at 16 MB). Prints the
// time from arrival to settled (p50, p99, p99.9, max), and the WAL file's largest size. What it
// isolates: the writers' waits behind the checkpointer (a RESTART holds the write lock) and behind
// large batches. Compare two checkouts by running it in each, alternately.

import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { newKeyRecord } from '../../src/core/api-keys.js';
import { systemClock } from '../../src/core/ports/clock.js';
import { newLogEntryId, newRequestId } from '../../src/http/request-id.js';
import { readPriceFile } from '../../src/billing/price-file.js';
import { PriceOverrides } from '../../src/billing/price-overrides.js';
import { openSqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';

// Counts the group commit's refused BEGIN IMMEDIATEs (another connection, here the checkpointer, held
// the write lock) and how long batches waited for it: first refusal to the BEGIN that succeeded.
const Database = createRequire(import.meta.url)('better-sqlite3') as typeof import('better-sqlite3');
const probe = new Database(':memory:');
const statementPrototype = Object.getPrototypeOf(probe.prepare('SELECT 1')) as { run: (...args: unknown[]) => unknown };
probe.close();
const originalRun = statementPrototype.run;
let refusedBegins = 0;
let waitingSince: number | undefined;
const lockWaits: number[] = [];
statementPrototype.run = function (this: { source: string }, ...args: unknown[]) {
  if (this.source !== 'BEGIN IMMEDIATE') return originalRun.apply(this, args);
  try {
    const result = originalRun.apply(this, args);
    if (waitingSince !== undefined) lockWaits.push(performance.now() - waitingSince);
    waitingSince = undefined;
    return result;
  } catch (error) {
    refusedBegins += 1;
    waitingSince ??= performance.now();
    throw error;
  }
};

const rate = Number(process.argv[2] ?? 700);
const seconds = Number(process.argv[3] ?? 15);
const folder = await mkdtemp(join(tmpdir(), 'imagegate-micro-commit-wait-'));
const file = join(folder, 'commit-wait.sqlite');
const storage = await openSqliteStorage({ file, clock: systemClock, logger: pino({ level: 'silent' }) });
const prices = await PriceOverrides.open(storage.prices, readPriceFile(), systemClock);
// The storage's own billing: one group commit with the request log, as in the gateway.
const billing = storage.billing(prices.book);
const key = newKeyRecord('sk-micro-0123456789abcdef', { name: 'micro', source: 'admin', now: Date.now() });
await storage.keys.insert(key);
await billing.setMetered(key.id, true, 1e14);
const details = { prompt: 'a lighthouse at dusk', parameters: { model: 'dall-e-2', size: '256x256', response_format: 'b64_json' }, warnings: [], imageKeys: [], generationMs: 1 };

const waits: number[] = [];
const request = async (arrival: number) => {
  const reservationId = newRequestId();
  await billing.reserve({ reservationId, keyId: key.id, model: 'dall-e-2', operation: 'generate', imagesRequested: 1, size: '256x256', promptCharacters: 20, inputImages: 0 });
  await new Promise((resolve) => setTimeout(resolve, 1));
  await billing.settle({ keyId: key.id, reservationId }, { imagesDelivered: 1, channel: 'bench', provider: 'openai' });
  waits.push(performance.now() - arrival);
  storage.requestLog.record({
    ...{ id: newLogEntryId(), requestId: reservationId, keyId: key.id, endpoint: '/v1/images/generations', model: 'dall-e-2', provider: 'openai', channel: 'bench' },
    ...{ status: 200, imagesRequested: 1, imagesDelivered: 1, size: '256x256', latencyMs: 3, errorCode: null, createdAt: Date.now(), clientIp: '127.0.0.1', details },
  });
};

let largestWal = 0;
const sampler = setInterval(() => {
  try {
    largestWal = Math.max(largestWal, statSync(`${file}-wal`).size);
  } catch {
    /* not there yet */
  }
}, 20);
let state = 0x9e3779b9;
const random = (): number => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return ((state >>> 0) + 1) / 4_294_967_297;
};
const inFlight: Array<Promise<void>> = [];
const started = performance.now();
const end = started + seconds * 1000;
let next = started;
while (next < end) {
  const now = performance.now();
  while (next <= now && next < end) {
    inFlight.push(request(next));
    next += (-Math.log(random()) / rate) * 1000;
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(next, end) - performance.now())));
}
await Promise.all(inFlight);
clearInterval(sampler);
const sorted = waits.sort((a, b) => a - b);
const at = (fraction: number) => (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0).toFixed(1);
process.stdout.write(
  `commit wait at ${rate}/s for ${seconds} s: ${sorted.length} requests, arrival to settled p50 ${at(0.5)} p99 ${at(0.99)} p99.9 ${at(0.999)} max ${at(1)} ms; ` +
    `largest WAL ${(largestWal / 1048576).toFixed(1)} MB; ${refusedBegins} BEGINs refused, ${lockWaits.length} batches waited for the lock ` +
    `(${lockWaits.reduce((sum, wait) => sum + wait, 0).toFixed(0)} ms in all, longest ${Math.max(0, ...lockWaits).toFixed(1)} ms)\n`,
);
await storage.close();
await rm(folder, { recursive: true, force: true });
