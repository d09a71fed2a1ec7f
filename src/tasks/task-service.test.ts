// The task service with a real store — SQLite, and PostgreSQL on a fresh schema — the real BFL
// adapter and the BFL fake: two workers sharing one database, one of them frozen mid-task (as a paused or partitioned process would be),
// and a billing double that counts every call by reservation id.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { createCatalog } from '../core/catalog/catalog.js';
import { createImageService } from '../core/generate-images.js';
import { parseImageRequest } from '../core/image-request.js';
import type { Billing, ReservationRef, ReservationRequest } from '../core/ports/billing.js';
import { createRequestAbort } from '../core/request-abort.js';
import { systemClock } from '../core/ports/clock.js';
import type { ModelRoute, ModelRouter } from '../core/ports/model-router.js';
import type { TaskLedger } from '../core/ports/task-ledger.js';
import type { TaskRecord, TaskStore } from '../core/ports/task-store.js';
import { createBflProvider } from '../providers/bfl/index.js';
import { createHttpClient, type GuardedHttpClient } from '../providers/shared/http-client.js';
import { LocalBlobStore } from '../storage/blob/local/local-blob-store.js';
import { openDatabaseStores } from '../storage/open-storage.js';
import type { DatabaseStores } from '../storage/storage.js';
import { createTestSchema, type TestSchema } from '../testing/postgres.js';
import { bflFakeApiKey, startBflFake, type BflFake } from '../testing/fakes/bfl.js';
import { createTaskService, newTaskId, type TaskService } from './task-service.js';

const catalog = createCatalog(readCatalogFile());
const logger = pino({ level: 'silent' });

interface CountingBilling extends Billing {
  calls: Map<string, { reserve: number; settle: number; release: number }>;
}

/** Counts raw calls: the port promises idempotence, but a correct worker should not even repeat itself. */
function countingBilling(): CountingBilling {
  const calls = new Map<string, { reserve: number; settle: number; release: number }>();
  const entry = (id: string) => {
    let found = calls.get(id);
    if (!found) calls.set(id, (found = { reserve: 0, settle: 0, release: 0 }));
    return found;
  };
  return {
    calls,
    reserve: async (request: ReservationRequest) => void (entry(request.reservationId).reserve += 1),
    settle: async ({ reservationId }: ReservationRef) => void (entry(reservationId).settle += 1),
    release: async ({ reservationId }: ReservationRef) => void (entry(reservationId).release += 1),
    handOver: async () => undefined,
  };
}

/**
 * The task ledger over the store and the counting double: the same calls in the same order as the SQL
 * stores' ledgers (reserve with the task row; the lease-fenced final write, then the charge), though not
 * in one transaction, which these tests (of the service's calls, not of atomicity) do not need.
 */
function countingLedger(taskStore: TaskStore, billing: Billing): TaskLedger {
  return {
    createReserved: async (task, reservation) => {
      await billing.reserve(reservation);
      await taskStore.create(task);
    },
    finishSettled: async (taskId, owner, patch, reservation, settlement) => {
      if (!(await taskStore.update(taskId, owner, patch))) return false;
      await billing.settle(reservation, settlement);
      return true;
    },
  };
}

/** A store whose calls wait while frozen, then go through: a process that stopped and came back. */
function freezable(store: TaskStore): { store: TaskStore; freeze(): void; thaw(): void } {
  let gate: Promise<void> | undefined;
  let open = (): void => undefined;
  const wrapped = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (gate) await gate;
        return (value as (...parameters: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store: wrapped,
    freeze() {
      gate = new Promise((resolve) => (open = resolve));
    },
    thaw() {
      gate = undefined;
      open();
    },
  };
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let folder: string;
let database: DatabaseStores;
let postgresSchema: TestSchema | undefined;
let store: TaskStore;
let fake: BflFake;
let http: GuardedHttpClient;
let blobs: LocalBlobStore;
const services: TaskService[] = [];

async function openBackend(backend: 'sqlite' | 'postgres'): Promise<void> {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-task-service-'));
  postgresSchema = backend === 'postgres' ? createTestSchema('task_service') : undefined;
  database = await openDatabaseStores(postgresSchema ? { backend: 'postgres', url: postgresSchema.url } : { backend: 'sqlite', file: join(folder, 'imagegate.db') }, { clock: systemClock, logger });
  store = database.tasks;
  blobs = new LocalBlobStore({ directory: join(folder, 'blobs') });
  fake = await startBflFake({ switches: { pollsBeforeReady: 15 } });
  http = createHttpClient({ allowPrivateNetworks: true });
}

async function closeBackend(): Promise<void> {
  await Promise.all(services.splice(0).map((service) => service.close()));
  await http.close();
  await fake.close();
  await database.close();
  await postgresSchema?.drop();
  await rm(folder, { recursive: true, force: true });
}

function bflRouter(): ModelRouter {
  const factory = createBflProvider({ channel: 'bfl', baseURL: fake.url, apiKey: bflFakeApiKey, http, pollIntervalMs: 20 });
  const route: ModelRoute = { imageModel: factory('flux-1.1-pro'), channel: 'bfl', provider: 'bfl' };
  return {
    run: async (_model, _request, attempt) => ({ value: await attempt(route, { markAccepted: () => undefined }), route, attempts: 1, warnings: [] }),
    describe: () => ({ provider: 'bfl', channel: 'bfl', routed: true }),
  };
}

function service(owner: string, taskStore: TaskStore, billing: Billing, settings: Partial<Parameters<typeof createTaskService>[0]['settings']> = {}): TaskService {
  const router = bflRouter();
  const created = createTaskService({
    store: taskStore,
    images: createImageService({ router, blobs, http, clock: systemClock }),
    router,
    catalog,
    blobs,
    billing,
    ledger: countingLedger(taskStore, billing),
    clock: systemClock,
    logger,
    settings: { workers: 4, leaseMs: 600, maxQueued: 100, syncTimeoutMs: 60_000, ...settings },
    owner,
  });
  services.push(created);
  return created;
}

const request = (prompt: string) => parseImageRequest(catalog, 'generate', { model: 'flux-1.1-pro', prompt, response_format: 'b64_json' });

async function submit(target: TaskService, prompt: string): Promise<string> {
  const taskId = newTaskId();
  const imageRequest = request(prompt);
  await target.submit({
    taskId,
    request: imageRequest,
    keyId: 'key_1',
    reservation: { reservationId: taskId, keyId: 'key_1', model: 'flux-1.1-pro', operation: 'generate', imagesRequested: 1, size: '1024x1024', promptCharacters: prompt.length, inputImages: 0 },
  });
  return taskId;
}

const allTasks = async (ids: string[]): Promise<TaskRecord[]> => Promise.all(ids.map(async (id) => (await store.get(id)) as TaskRecord));

describe.each(['sqlite', 'postgres'] as const)('task service on %s', (backend) => {
  beforeEach(() => openBackend(backend));
  afterEach(() => closeBackend());

  it('a frozen worker that comes back after another took over neither charges nor writes', async () => {
    const billing = countingBilling();
    const frozen = freezable(store);
    const first = service('worker-a', frozen.store, billing);
    first.start();
    const ids = [await submit(first, 'one'), await submit(first, 'two'), await submit(first, 'three')];
    await until(async () => (await allTasks(ids)).every((task) => task.upstreamJob !== null));

    frozen.freeze();
    const second = service('worker-b', store, billing);
    second.start();
    await until(async () => (await allTasks(ids)).every((task) => task.status === 'succeeded'));
    frozen.thaw();
    // Let the first worker's held calls (heartbeats, progress, its own finish) run and fail.
    await new Promise((resolve) => setTimeout(resolve, 800));

    expect(fake.submissions).toBe(3);
    for (const task of await allTasks(ids)) {
      expect(task).toMatchObject({ status: 'succeeded', leaseOwner: 'worker-b', attempts: 2 });
      expect(billing.calls.get(task.id)).toEqual({ reserve: 1, settle: 1, release: 0 });
      const stored = task.result as { data: Array<{ blob_key: string }>; response_format: string };
      expect(stored.response_format).toBe('b64_json');
      expect(await blobs.get(stored.data[0]?.blob_key ?? '')).toBeDefined();
    }
  });

  it('with one slot, runs every task queued while it was busy, each once, without waiting for the poll interval', async () => {
    const billing = countingBilling();
    // A poll interval longer than the test: only the wakes (a submission with room, a freed slot) move the queue.
    const worker = service('worker-a', store, billing, { workers: 1, pollMs: 60_000 });
    worker.start();
    const ids = [await submit(worker, 'one'), await submit(worker, 'two'), await submit(worker, 'three'), await submit(worker, 'four')];
    await until(async () => (await allTasks(ids)).every((task) => task.status === 'succeeded'));
    expect(fake.submissions).toBe(4);
    for (const task of await allTasks(ids)) {
      expect(task).toMatchObject({ status: 'succeeded', leaseOwner: 'worker-a', attempts: 1 });
      expect(billing.calls.get(task.id)).toEqual({ reserve: 1, settle: 1, release: 0 });
    }
  });

  it('keeps a long task with heartbeats: a second worker never takes it', async () => {
    fake.switches.pollsBeforeReady = 60;
    const billing = countingBilling();
    const first = service('worker-a', store, billing, { leaseMs: 300 });
    const second = service('worker-b', store, billing, { leaseMs: 300 });
    first.start();
    const id = await submit(first, 'long');
    await until(async () => (await store.get(id))?.status === 'in_progress');
    second.start();
    await until(async () => (await store.get(id))?.status === 'succeeded');
    expect(await store.get(id)).toMatchObject({ leaseOwner: 'worker-a', attempts: 1 });
    expect(fake.submissions).toBe(1);
    expect(billing.calls.get(id)).toEqual({ reserve: 1, settle: 1, release: 0 });
  });

  it('fails a task that keeps losing its worker, and releases its reservation', async () => {
    const billing = countingBilling();
    // Submitted through a service that never starts its workers: the task stays queued.
    const poisoned = await submit(service('setup', store, billing), 'poison');
    // Five claims already made by workers that died, each lease long expired.
    for (let attempt = 0; attempt < 5; attempt += 1) expect(await store.claim(`dead-${attempt}`, attempt * 10 + 5, attempt * 10 + 6)).toBeDefined();
    expect((await store.get(poisoned))?.attempts).toBe(5);
    const survivor = service('worker-a', store, billing);
    survivor.start();
    await until(async () => (await store.get(poisoned))?.status === 'failed');
    const task = await store.get(poisoned);
    expect(task?.error).toMatchObject({ code: 'server_error', type: 'server_error' });
    expect(task?.error?.message).toContain('interrupted 5 times');
    expect(billing.calls.get(poisoned)).toMatchObject({ settle: 0, release: 1 });
    expect(fake.submissions).toBe(0);
  });

  it('hands a synchronous run over at the time limit: the task records the job, finishes, and settles the request reservation once', async () => {
    const billing = countingBilling();
    const worker = service('worker-a', store, billing, { syncTimeoutMs: 100 });
    const outcome = await worker.runSync({ request: request('sync'), keyId: 'key_1', reservationId: 'req_1', abort: createRequestAbort(), persist: false });
    expect(outcome.kind).toBe('handed_over');
    const taskId = outcome.kind === 'handed_over' ? outcome.task.id : '';
    await until(async () => (await store.get(taskId))?.status === 'succeeded');
    const task = await store.get(taskId);
    expect(task).toMatchObject({ keyId: 'key_1', leaseOwner: 'worker-a', attempts: 1 });
    expect(task?.upstreamJob?.data.calls).toHaveLength(1);
    expect((task?.request as { reservation_id: string }).reservation_id).toBe('req_1');
    // b64_json without persist: the images were stored when the work became a task.
    const stored = task?.result as { data: Array<{ blob_key: string }> };
    expect(await blobs.get(stored.data[0]?.blob_key ?? '')).toBeDefined();
    expect(billing.calls.get('req_1')).toEqual({ reserve: 0, settle: 1, release: 0 });
    expect(billing.calls.has(taskId)).toBe(false);
    expect(fake.submissions).toBe(1);
  });

  it('answers a quick synchronous run directly, without a task', async () => {
    fake.switches.pollsBeforeReady = 0;
    const billing = countingBilling();
    const worker = service('worker-a', store, billing, { syncTimeoutMs: 10_000 });
    const outcome = await worker.runSync({ request: request('quick'), keyId: 'key_1', reservationId: 'req_2', abort: createRequestAbort(), persist: false });
    expect(outcome.kind).toBe('completed');
    expect(outcome.kind === 'completed' ? outcome.outcome.images : []).toHaveLength(1);
    expect(await store.list({ keyId: 'key_1', limit: 10 })).toEqual([]);
    expect(billing.calls.get('req_2')).toEqual({ reserve: 0, settle: 1, release: 0 });
  });
});
