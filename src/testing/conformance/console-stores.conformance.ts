// The behaviour every audit log, console session store, task event store and the console's queries
// (SQLite, Postgres …) must show; each backend's test file runs these suites.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry, AuditLog } from '../../core/ports/audit-log.js';
import type { ConsoleSession, SessionStore } from '../../core/ports/session-store.js';
import type { Insights } from '../../core/ports/insights.js';
import type { RequestLog, RequestLogEntry } from '../../core/ports/request-log.js';
import type { TaskEventStore } from '../../core/ports/task-events.js';
import type { TaskRecord, TaskStore } from '../../core/ports/task-store.js';

export interface StoreUnderTest<T> {
  store: T;
  cleanup(): Promise<void>;
}

const baseTime = 1_700_000_000_000;

function entry(index: number, overrides: Partial<Omit<AuditEntry, 'id'>> = {}): Omit<AuditEntry, 'id'> {
  return {
    at: baseTime + index * 1000,
    actor: 'admin token',
    ip: '203.0.113.7',
    action: 'key.created',
    target: `key_${index}`,
    changes: { name: `key ${index}`, nested: { quota: index } },
    outcome: 'ok',
    requestId: `req_${index}`,
    ...overrides,
  };
}

export function describeAuditLogConformance(name: string, create: () => Promise<StoreUnderTest<AuditLog>>): void {
  describe(`AuditLog conformance: ${name}`, () => {
    let subject: StoreUnderTest<AuditLog>;
    beforeEach(async () => {
      subject = await create();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('returns recorded entries newest first with every field intact and increasing ids', async () => {
      await subject.store.record(entry(1));
      await subject.store.record(entry(2, { actor: 'operator session', ip: null, target: null, outcome: 'invalid_value', requestId: null }));
      const found = await subject.store.query({});
      expect(found.map(({ id: _id, ...rest }) => rest)).toStrictEqual([entry(2, { actor: 'operator session', ip: null, target: null, outcome: 'invalid_value', requestId: null }), entry(1)]);
      expect(found[0]!.id).toBeGreaterThan(found[1]!.id);
    });

    it('filters by action, target and time, pages backwards by id, and honours the limit', async () => {
      for (let index = 0; index < 6; index += 1) await subject.store.record(entry(index, { action: index % 2 === 0 ? 'key.created' : 'channel.tested' }));
      const targets = (found: AuditEntry[]) => found.map((item) => item.target);
      expect(targets(await subject.store.query({ action: 'channel.tested' }))).toStrictEqual(['key_5', 'key_3', 'key_1']);
      expect(targets(await subject.store.query({ target: 'key_2' }))).toStrictEqual(['key_2']);
      expect(targets(await subject.store.query({ from: baseTime + 2000, to: baseTime + 4000 }))).toStrictEqual(['key_3', 'key_2']);
      const firstPage = await subject.store.query({ limit: 2 });
      expect(targets(firstPage)).toStrictEqual(['key_5', 'key_4']);
      expect(targets(await subject.store.query({ limit: 2, before: firstPage[1]!.id }))).toStrictEqual(['key_3', 'key_2']);
    });
  });
}

function session(index: number, overrides: Partial<ConsoleSession> = {}): ConsoleSession {
  return { idHash: `hash_${index}`, role: 'key', keyId: `key_${index}`, csrfToken: `csrf_${index}`, ip: '127.0.0.1', createdAt: baseTime, expiresAt: baseTime + 60_000, ...overrides };
}

export function describeSessionStoreConformance(name: string, create: () => Promise<StoreUnderTest<SessionStore>>): void {
  describe(`SessionStore conformance: ${name}`, () => {
    let subject: StoreUnderTest<SessionStore>;
    beforeEach(async () => {
      subject = await create();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('finds a live session by its hash, never an expired one, and deletes it', async () => {
      const operator = session(1, { role: 'operator', keyId: null, ip: null });
      await subject.store.create(operator);
      expect(await subject.store.get('hash_1', baseTime + 1)).toStrictEqual(operator);
      expect(await subject.store.get('hash_1', baseTime + 60_000)).toBeUndefined();
      expect(await subject.store.get('hash_unknown', baseTime)).toBeUndefined();
      await subject.store.delete('hash_1');
      expect(await subject.store.get('hash_1', baseTime + 1)).toBeUndefined();
    });

    it("ends every session of a key, and sweeps expired ones", async () => {
      await subject.store.create(session(1, { keyId: 'key_a' }));
      await subject.store.create(session(2, { keyId: 'key_a' }));
      await subject.store.create(session(3, { keyId: 'key_b', expiresAt: baseTime + 10 }));
      expect(await subject.store.deleteForKey('key_a')).toBe(2);
      expect(await subject.store.get('hash_1', baseTime)).toBeUndefined();
      expect(await subject.store.deleteExpired(baseTime + 10)).toBe(1);
      expect(await subject.store.get('hash_3', baseTime)).toBeUndefined();
    });
  });
}

export function describeTaskEventStoreConformance(name: string, create: () => Promise<StoreUnderTest<TaskEventStore>>): void {
  describe(`TaskEventStore conformance: ${name}`, () => {
    let subject: StoreUnderTest<TaskEventStore>;
    beforeEach(async () => {
      subject = await create();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it("lists a task's events in the order recorded (equal times included), and deletes old ones", async () => {
      await subject.store.record({ taskId: 'task_a', at: baseTime, kind: 'queued', detail: { model: 'flux-dev' } });
      await subject.store.record({ taskId: 'task_b', at: baseTime, kind: 'queued', detail: {} });
      await subject.store.record({ taskId: 'task_a', at: baseTime + 5, kind: 'started', detail: { attempt: 1 } });
      await subject.store.record({ taskId: 'task_a', at: baseTime + 5, kind: 'stored', detail: { images: 2 } });
      await subject.store.record({ taskId: 'task_a', at: baseTime + 5, kind: 'succeeded', detail: {} });
      expect((await subject.store.list('task_a')).map((event) => [event.kind, event.detail])).toStrictEqual([
        ['queued', { model: 'flux-dev' }],
        ['started', { attempt: 1 }],
        ['stored', { images: 2 }],
        ['succeeded', {}],
      ]);
      expect(await subject.store.deleteOlderThan(baseTime + 1)).toBe(2);
      expect((await subject.store.list('task_a')).map((event) => event.kind)).toStrictEqual(['started', 'stored', 'succeeded']);
      expect(await subject.store.list('task_b')).toStrictEqual([]);
    });

    it('stores every event of many recorded at once (as concurrent tasks do), each task in the order recorded', async () => {
      const kinds = ['queued', 'started', 'stored', 'succeeded'] as const;
      const tasks = Array.from({ length: 40 }, (_, index) => `task_${index}`);
      await Promise.all(tasks.flatMap((taskId) => kinds.map((kind, step) => subject.store.record({ taskId, at: baseTime + step, kind, detail: { step } }))));
      for (const taskId of tasks) {
        expect((await subject.store.list(taskId)).map((event) => [event.kind, event.detail])).toStrictEqual(kinds.map((kind, step) => [kind, { step }]));
      }
    });
  });
}

export interface InsightsUnderTest {
  insights: Insights;
  requestLog: RequestLog;
  tasks: TaskStore;
  cleanup(): Promise<void>;
}

function logEntry(index: number, overrides: Partial<RequestLogEntry> = {}): RequestLogEntry {
  return {
    id: `log_${index}`,
    requestId: `req_${index}`,
    keyId: 'key_a',
    endpoint: 'images.generations',
    model: 'flux-dev',
    provider: 'bfl',
    channel: 'bfl-main',
    status: 200,
    imagesRequested: 1,
    imagesDelivered: 1,
    size: '1024x1024',
    latencyMs: 10,
    errorCode: null,
    createdAt: baseTime + index * 1000,
    details: null,
    ...overrides,
  };
}

/** The console's read-only questions give the same answers on every backend. */
export function describeInsightsConformance(name: string, create: () => Promise<InsightsUnderTest>): void {
  describe(`Insights conformance: ${name}`, () => {
    let subject: InsightsUnderTest;
    beforeEach(async () => {
      subject = await create();
    });
    afterEach(async () => {
      await subject.cleanup();
    });

    it('buckets image operations over a window and breaks them down by model, channel and key, leaving out downloads and polls', async () => {
      subject.requestLog.record(logEntry(0));
      subject.requestLog.record(logEntry(1, { status: 502, errorCode: 'upstream_error', imagesDelivered: 0 }));
      subject.requestLog.record(logEntry(65, { model: 'gpt-image-2', channel: 'openai', keyId: 'key_b' }));
      subject.requestLog.record(logEntry(66, { endpoint: 'files', keyId: null, model: null }));
      subject.requestLog.record(logEntry(67, { endpoint: 'tasks.get' }));
      await subject.requestLog.flush();
      // Two one-minute buckets aligned to the minute; the entries sit 20 s into the first.
      const start = Math.floor(baseTime / 60_000) * 60_000;
      const window = { from: start, to: start + 120_000 };
      const buckets = await subject.insights.traffic(window, 60_000);
      expect(buckets.map((bucket) => [bucket.start - start, bucket.requests, bucket.errors])).toStrictEqual([
        [0, 2, 1],
        [60_000, 1, 0],
      ]);
      expect(await subject.insights.traffic({ ...window, keyId: 'key_b' }, 60_000).then((rows) => rows.map((row) => row.requests))).toStrictEqual([0, 1]);
      const byModel = await subject.insights.breakdown(window, 'model');
      expect(byModel.map((row) => [row.group, row.requests, row.errors])).toStrictEqual([
        ['flux-dev', 2, 1],
        ['gpt-image-2', 1, 0],
      ]);
      expect((await subject.insights.breakdown(window, 'key')).map((row) => row.group)).toStrictEqual(['key_a', 'key_b']);
      expect((await subject.insights.breakdown(window, 'channel')).map((row) => row.group)).toStrictEqual(['bfl-main', 'openai']);
    });

    it('finds stored images of requests and succeeded tasks for the gallery, newest first, by key and model', async () => {
      subject.requestLog.record(logEntry(1, { details: { prompt: 'a stored fox', imageKeys: ['images/a.png'] } }));
      subject.requestLog.record(logEntry(2, { details: { prompt: 'a base64 fox', imageKeys: [] } }));
      subject.requestLog.record(logEntry(3, { details: { prompt: 'became a task', imageKeys: [], taskId: 'task_done' } }));
      await subject.requestLog.flush();
      await subject.tasks.create(makeConsoleTask('done', { status: 'succeeded', createdAt: baseTime + 5000, result: { data: [{ blob_key: 'images/t.png' }] }, request: { fields: { prompt: 'a task fox' } } }));
      await subject.tasks.create(makeConsoleTask('queued', { createdAt: baseTime + 6000 }));
      const items = await subject.insights.gallery({ limit: 10 });
      expect(items.map((item) => [item.source, item.kind, item.prompt, item.blobKeys])).toStrictEqual([
        ['task_done', 'task', 'a task fox', ['images/t.png']],
        ['log_1', 'request', 'a stored fox', ['images/a.png']],
      ]);
      expect(await subject.insights.gallery({ limit: 10, keyId: 'key_b' })).toStrictEqual([]);
      expect((await subject.insights.gallery({ limit: 10, model: 'flux-dev', from: baseTime + 4000 })).map((item) => item.source)).toStrictEqual(['task_done']);
      expect((await subject.insights.tasks({ limit: 10 })).map((task) => task.id)).toStrictEqual(['task_queued', 'task_done']);
      expect((await subject.insights.tasks({ limit: 10, status: 'succeeded' })).map((task) => task.id)).toStrictEqual(['task_done']);
      const totals = await subject.insights.totals();
      expect(totals.tasksByStatus).toStrictEqual({ queued: 1, in_progress: 0, succeeded: 1, failed: 0, canceled: 0 });
      expect([totals.chargedCredits, totals.heldCredits, totals.imagesBilled]).toStrictEqual([0, 0, 0]);
      expect(await subject.insights.usageFor('req_1', 'key_a')).toBeUndefined();
      expect(await subject.insights.ledger('key_a', 10)).toStrictEqual([]);
    });
  });
}

function makeConsoleTask(suffix: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: `task_${suffix}`,
    keyId: 'key_a',
    operation: 'generate',
    model: 'flux-dev',
    status: 'queued',
    progress: 0,
    request: { fields: { prompt: `a ${suffix} fox` } },
    result: null,
    error: null,
    upstreamJob: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    attempts: 0,
    createdAt: baseTime,
    startedAt: null,
    completedAt: null,
    ...overrides,
  };
}
