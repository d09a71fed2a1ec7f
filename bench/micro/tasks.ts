// `node --import tsx bench/micro/tasks.ts [QUEUED] [ROUNDS] [PER_ROUND]`: CPU microseconds per task of
// the SQLite task bookkeeping alone (no HTTP, no upstream, no blob store), as scenario 4 drives it: a
// backlog of QUEUED tasks of one key (the bench keeps ~500), and each round PER_ROUND submissions
// (the ledger's task row, reservation and `queued` event, with its queue-limit count), one claim batch of
// PER_ROUND (with its `started` events), PER_ROUND successes (the ledger's final write, settlement,
// `stored` + `succeeded`) and 1.4 polls per task. The stores are wired as sqlite-storage and gateway.ts
// wire them (one group commit, the timeline wrappers). CPU includes the checkpointer thread. Compare
// two checkouts by running it in each, alternately: the machine's load moves single runs by ±20 %.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newKeyRecord } from '../../src/core/api-keys.js';
import { systemClock } from '../../src/core/ports/clock.js';
import type { TaskRecord } from '../../src/core/ports/task-store.js';
import { readPriceFile } from '../../src/billing/price-file.js';
import { PriceOverrides } from '../../src/billing/price-overrides.js';
import { SqlKeyStore } from '../../src/storage/sql/key-store.js';
import { SqlPriceStore } from '../../src/storage/sql/price-store.js';
import { SqliteBilling } from '../../src/storage/sqlite/billing.js';
import { openSqliteDatabase } from '../../src/storage/sqlite/database.js';
import { GroupCommit } from '../../src/storage/sqlite/group-commit.js';
import { migrate } from '../../src/storage/sqlite/migrate.js';
import { SqliteTaskEventStore } from '../../src/storage/sqlite/task-event-store.js';
import { SqliteTaskStore } from '../../src/storage/sqlite/task-store.js';
import { newTaskId } from '../../src/tasks/task-service.js';
import { withLedgerTimeline, withTaskTimeline } from '../../src/tasks/task-events.js';

const queuedTarget = Number(process.argv[2] ?? 500);
const rounds = Number(process.argv[3] ?? 1500);
const perRound = Number(process.argv[4] ?? 4);
const maxQueued = 1000;
const leaseMs = 60_000;

const folder = await mkdtemp(join(tmpdir(), 'imagegate-micro-tasks-'));
const database = openSqliteDatabase({ file: join(folder, 'tasks.sqlite'), backgroundCheckpoints: true });
await migrate(database.db);
const batches = GroupCommit.forDatabase(database);
const rawTasks = new SqliteTaskStore(database, batches);
const events = new SqliteTaskEventStore(database, batches);
const prices = await PriceOverrides.open(new SqlPriceStore(database.db), readPriceFile(), systemClock);
const billing = new SqliteBilling({ database, prices: prices.book, clock: systemClock, batches, tasks: rawTasks, taskEvents: events });
const store = withTaskTimeline(rawTasks, events, { clock: systemClock, onError: (error) => console.error(error) });
const ledger = withLedgerTimeline(billing.taskLedger, { clock: systemClock });
const key = newKeyRecord('sk-micro-0123456789abcdef', { name: 'micro', source: 'admin', now: Date.now() });
await new SqlKeyStore(database.db).insert(key);
await billing.setMetered(key.id, true, 1e14);
const owner = 'micro-worker';

/** What scenario 4's request is stored as (storeTaskRequest of a gpt-image-1-mini generation). */
const storedRequest = (taskId: string) => ({
  version: 1,
  reservation_id: taskId,
  fields: {
    operation: 'generate',
    requestedModel: 'gpt-image-1-mini',
    prompt: 'a lighthouse at dusk',
    n: 1,
    size: { width: 1024, height: 1024 },
    aspectRatio: '1:1',
    background: 'auto',
    outputFormat: 'png',
    responseFormat: 'b64_json',
    stream: false,
    partialImages: 0,
    providerOptions: {},
    warnings: [],
    model: 'gpt-image-1-mini',
  },
  images: [],
  mask: null,
  callback: false,
});

const submit = async (): Promise<void> => {
  const id = newTaskId();
  const now = Date.now();
  const task: TaskRecord = {
    id,
    keyId: key.id,
    operation: 'generate',
    model: 'gpt-image-1-mini',
    status: 'queued',
    progress: 0,
    request: storedRequest(id),
    result: null,
    error: null,
    upstreamJob: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    attempts: 0,
    createdAt: now,
    startedAt: null,
    completedAt: null,
  };
  await ledger.createReserved(task, { reservationId: id, keyId: key.id, model: 'gpt-image-1-mini', operation: 'generate', imagesRequested: 1, size: '1024x1024', promptCharacters: 20, inputImages: 0 }, undefined, maxQueued);
};

const finish = async (task: TaskRecord): Promise<void> => {
  const now = Date.now();
  const result = {
    created: Math.floor(now / 1000),
    data: [{ blob_key: `images/2026/12/04/${task.id}/0-0123456789abcdef.png` }],
    usage: { input_tokens: 10, output_tokens: 272, total_tokens: 282 },
    output_format: 'png',
    response_format: 'b64_json',
  };
  const written = await ledger.finishSettled(
    task.id,
    owner,
    { status: 'succeeded', progress: 100, result, error: null, completedAt: now },
    { keyId: key.id, reservationId: task.id },
    { imagesDelivered: 1, channel: 'bench', provider: 'openai' },
  );
  if (!written) throw new Error('lease lost');
};

let polls = 0;
const poll = async (id: string): Promise<void> => {
  polls += 1;
  if ((await store.get(id)) === undefined) throw new Error('task gone');
};

const round = async (): Promise<number> => {
  await Promise.all(Array.from({ length: perRound }, submit));
  const now = Date.now();
  const claimed = await store.claimBatch(owner, now, now + leaseMs, perRound, { excludeModels: [], fairness: { recentlyServedKeys: [key.id] } });
  await Promise.all(claimed.map(finish));
  // 1.4 polls per task, as scenario 4's followers make.
  await Promise.all(claimed.flatMap((task, index) => (index % 5 < 2 ? [poll(task.id), poll(task.id)] : [poll(task.id)])));
  return claimed.length;
};

for (let filled = 0; filled < queuedTarget; filled += 50) await Promise.all(Array.from({ length: Math.min(50, queuedTarget - filled) }, submit));
for (let warm = 0; warm < 200; warm += 1) await round();
polls = 0;
const before = process.cpuUsage();
const started = performance.now();
let tasks = 0;
for (let index = 0; index < rounds; index += 1) tasks += await round();
const used = process.cpuUsage(before);
process.stdout.write(
  `tasks, ${queuedTarget} queued, ${perRound} per round: ${((used.user + used.system) / tasks).toFixed(1)} µs CPU/task (user ${(used.user / tasks).toFixed(1)}, ` +
    `system ${(used.system / tasks).toFixed(1)}), ${Math.round(tasks / ((performance.now() - started) / 1000))} tasks/s, ${(polls / tasks).toFixed(2)} polls/task\n`,
);
await database.close();
await rm(folder, { recursive: true, force: true });
