// A key out of credit that keeps retrying (insufficient_quota is a 429, which SDKs and scripts retry)
// must not cost the other keys anything. Reservations and settlements of many requests are committed
// together by the group commit (group-commit.ts), and a statement that fails rolls its whole batch
// back and runs every statement of it again alone. So a refusal is not a failing statement: the
// reservation's statement writes nothing and says so, and only the refused request goes on to the
// transaction that decides it. The same holds for a worker that lost its task's lease and finishes
// late. What the group commit's connections ran is counted here.

import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPriceFile } from '../../billing/price-file.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { newKeyRecord } from '../../core/api-keys.js';
import { GatewayError } from '../../core/errors.js';
import { systemClock } from '../../core/ports/clock.js';
import type { ReservationRequest } from '../../core/ports/billing.js';
import { makeTask } from '../../testing/conformance/task-store.conformance.js';
import { createTestSchema, testPostgresServer, type TestSchema } from '../../testing/postgres.js';
import type { DatabaseStores } from '../storage.js';
import { PostgresBilling } from './billing.js';
import { openPostgresDatabase, type PostgresDatabase } from './database.js';
import { openPostgresStorage } from './postgres-storage.js';
import { PreparedStatements } from './prepared-statements.js';

let schema: TestSchema;
let stores: DatabaseStores;
let pool: pg.Pool;
/** The transactions' connections (the refused request's fallback), apart from the counted ones. */
let database: PostgresDatabase;
/** Statements the group commit's connections ran, by text (BEGIN, COMMIT, ROLLBACK or a statement). */
const ran: string[] = [];
let billing: PostgresBilling;

beforeAll(async () => {
  schema = createTestSchema('refusals');
  stores = await openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 4 });
  database = openPostgresDatabase({ url: schema.url, maxConnections: 4 });
  pool = new pg.Pool({ connectionString: testPostgresServer, max: 4, options: `-c search_path=${schema.schema},public` });
  const counted = new WeakSet<pg.PoolClient>();
  const counting = {
    async connect(): Promise<pg.PoolClient> {
      const client = await pool.connect();
      // The pool hands the same clients out again: each is wrapped once.
      if (counted.has(client)) return client;
      counted.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        const [first] = args;
        ran.push(typeof first === 'string' ? first : ((first as { text?: string }).text ?? ''));
        return query(...args);
      };
      return client;
    },
  };
  const prices = await PriceOverrides.open(stores.prices, readPriceFile(), systemClock);
  billing = new PostgresBilling({ db: database.db, statements: new PreparedStatements(counting, { prepare: true }), prices: prices.book, clock: systemClock });
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await database?.close();
  await stores?.close();
  await schema?.drop();
});

async function makeKey(balance: number): Promise<string> {
  const record = { ...newKeyRecord(`sk-refusals-${Math.random()}`, { name: 'refusals', source: 'admin', now: Date.now() }), balance: 0 };
  await stores.keys.insert(record);
  if (balance > 0) await billing.topUp(record.id, balance, 'test grant', 'initial');
  return record.id;
}

let sequence = 0;
function dalle2(keyId: string): ReservationRequest {
  sequence += 1;
  return { reservationId: `req_refusals_${sequence}`, keyId, model: 'dall-e-2', operation: 'generate', imagesRequested: 1, size: '256x256', promptCharacters: 10, inputImages: 0 };
}

describe('a key out of credit, retrying, beside a busy key on PostgreSQL', () => {
  it("is refused every time without rolling back the batches the busy key's reservations and settlements are committed in", async () => {
    const busy = await makeKey(10_000_000);
    const broke = await makeKey(10_000);
    ran.length = 0;

    const busyRequests: ReservationRequest[] = [];
    const refusals: unknown[] = [];
    // Both at once, in waves, so their statements share the group commit's batches.
    await Promise.all([
      (async () => {
        for (let wave = 0; wave < 25; wave += 1) {
          const requests = Array.from({ length: 8 }, () => dalle2(busy));
          busyRequests.push(...requests);
          await Promise.all(requests.map((request) => billing.reserve(request)));
          await Promise.all(requests.map((request) => billing.settle(request, { imagesDelivered: 1 })));
        }
      })(),
      (async () => {
        for (let wave = 0; wave < 25; wave += 1) {
          refusals.push(...(await Promise.all([dalle2(broke), dalle2(broke)].map((request) => billing.reserve(request).then(() => 'reserved', (error: unknown) => error)))));
        }
      })(),
    ]);

    // What the clients saw: every refusal a 429 insufficient_quota, every busy request charged once.
    expect(refusals).toHaveLength(50);
    for (const refusal of refusals) expect(refusal).toBeInstanceOf(GatewayError);
    expect(new Set(refusals.map((refusal) => (refusal as GatewayError).code))).toEqual(new Set(['insufficient_quota']));
    expect(await billing.account(broke)).toMatchObject({ balance: 10_000, charged: 0, held: 0 });
    expect(await billing.account(busy)).toMatchObject({ balance: 10_000_000 - 200 * 16_000, charged: 200 * 16_000, held: 0 });
    expect(await billing.listUsage({ keyId: busy, limit: 500 })).toHaveLength(busyRequests.length);

    // What the group commit ran: batches committed, none rolled back, no statement run twice.
    expect(ran.filter((text) => text === 'BEGIN').length).toBeGreaterThan(0);
    expect(ran.filter((text) => text === 'ROLLBACK')).toEqual([]);
    const statements = ran.filter((text) => !['BEGIN', 'COMMIT', 'ROLLBACK'].includes(text));
    // One statement per reservation and settlement of the busy key, one per refused attempt.
    expect(statements).toHaveLength(200 * 2 + 50);
  }, 60_000);
});

/** A queued task whose id is its reservation's, as a submission makes it. */
const queuedTask = (request: ReservationRequest) => makeTask(request.reservationId, { id: request.reservationId, keyId: request.keyId, model: request.model, createdAt: Date.now() });

describe('a worker that lost its tasks\' leases, finishing late, beside a busy key on PostgreSQL', () => {
  it("writes and charges nothing without rolling back the batches the busy key's reservations and settlements are committed in", async () => {
    const busy = await makeKey(10_000_000);
    const owner = await makeKey(1_000_000);
    const tasks = Array.from({ length: 20 }, () => dalle2(owner));
    for (const request of tasks) await billing.taskLedger.createReserved(queuedTask(request), request);
    // worker-a's leases run out and worker-b takes every task over.
    const start = Date.now();
    expect(await stores.tasks.claimBatch('worker-a', start, start + 1_000, tasks.length)).toHaveLength(tasks.length);
    expect(await stores.tasks.claimBatch('worker-b', start + 2_000, start + 600_000, tasks.length)).toHaveLength(tasks.length);
    const finish = (request: ReservationRequest, worker: string) =>
      billing.taskLedger.finishSettled(request.reservationId, worker, { status: 'succeeded', progress: 100, result: { data: [] }, completedAt: Date.now() }, request, { imagesDelivered: 1 }, [
        { taskId: request.reservationId, at: Date.now(), kind: 'succeeded', detail: {} },
      ]);
    ran.length = 0;

    const late: boolean[] = [];
    await Promise.all([
      (async () => {
        for (let wave = 0; wave < 10; wave += 1) {
          const requests = Array.from({ length: 8 }, () => dalle2(busy));
          await Promise.all(requests.map((request) => billing.reserve(request)));
          await Promise.all(requests.map((request) => billing.settle(request, { imagesDelivered: 1 })));
        }
      })(),
      (async () => {
        for (let wave = 0; wave < 10; wave += 1) late.push(...(await Promise.all(tasks.slice(wave * 2, wave * 2 + 2).map((request) => finish(request, 'worker-a')))));
      })(),
    ]);

    // worker-a's finishes wrote nothing: the tasks are worker-b's, still running, their reservations held.
    expect(late).toEqual(Array.from({ length: 20 }, () => false));
    for (const request of tasks) {
      expect(await stores.tasks.get(request.reservationId)).toMatchObject({ status: 'in_progress', leaseOwner: 'worker-b', result: null });
      expect(await stores.taskEvents.list(request.reservationId)).toEqual([]);
    }
    expect(await billing.account(owner)).toMatchObject({ charged: 0, held: 20 * 16_000 });
    expect(await billing.account(busy)).toMatchObject({ balance: 10_000_000 - 80 * 16_000, charged: 80 * 16_000, held: 0 });
    // What the group commit ran: no batch rolled back, one statement per reservation, settlement and late finish.
    expect(ran.filter((text) => text === 'ROLLBACK')).toEqual([]);
    expect(ran.filter((text) => !['BEGIN', 'COMMIT', 'ROLLBACK'].includes(text))).toHaveLength(80 * 2 + 20);

    // worker-b's finishes charge each task once.
    expect(await Promise.all(tasks.map((request) => finish(request, 'worker-b')))).toEqual(Array.from({ length: 20 }, () => true));
    expect(await billing.account(owner)).toMatchObject({ balance: 1_000_000 - 20 * 16_000, charged: 20 * 16_000, held: 0 });
    expect(await billing.listUsage({ keyId: owner, limit: 100 })).toHaveLength(20);
    expect(await stores.tasks.get((tasks[0] as ReservationRequest).reservationId)).toMatchObject({ status: 'succeeded', leaseOwner: 'worker-b' });
  }, 60_000);
});
