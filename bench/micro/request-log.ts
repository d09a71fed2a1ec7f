// `node --import tsx bench/micro/request-log.ts [ENTRIES]`: CPU microseconds per request-log entry
// recorded and written on SQLite, as openSqliteStorage opens it, with ids made as the gateway makes
// them. Compare two checkouts by running it in each, alternately (see ./billing.ts).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { systemClock } from '../../src/core/ports/clock.js';
import { newLogEntryId, newRequestId } from '../../src/http/request-id.js';
import { openSqliteStorage } from '../../src/storage/sqlite/sqlite-storage.js';

const entries = Number(process.argv[2] ?? 40_000);
const folder = await mkdtemp(join(tmpdir(), 'imagegate-micro-log-'));
const storage = await openSqliteStorage({ file: join(folder, 'log.sqlite'), clock: systemClock, logger: pino({ level: 'silent' }) });
const details = { prompt: 'a lighthouse at dusk', parameters: { model: 'dall-e-2', size: '256x256', response_format: 'b64_json' }, warnings: [], imageKeys: [], generationMs: 3 };
const record = async (count: number) => {
  for (let index = 0; index < count; index += 1) {
    storage.requestLog.record({
      ...{ id: newLogEntryId(), requestId: newRequestId(), keyId: 'key_micro', endpoint: '/v1/images/generations', model: 'dall-e-2', provider: 'openai', channel: 'bench' },
      ...{ status: 200, imagesRequested: 1, imagesDelivered: 1, size: '256x256', latencyMs: 12, errorCode: null, createdAt: Date.now(), clientIp: '127.0.0.1', details },
    });
    // The gateway writes every 250 ms or 500 entries, whichever comes first.
    if (index % 500 === 499) await storage.requestLog.flush();
  }
  await storage.requestLog.flush();
};
await record(5_000);
const before = process.cpuUsage();
await record(entries);
const used = process.cpuUsage(before);
process.stdout.write(
  `request log: ${((used.user + used.system) / entries).toFixed(1)} µs CPU/entry (user ${(used.user / entries).toFixed(1)}, system ${(used.system / entries).toFixed(1)})\n`,
);
await storage.close();
await rm(folder, { recursive: true, force: true });
