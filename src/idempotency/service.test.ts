// Idempotency-Key semantics against the stores of both databases (SQLite, and PostgreSQL on a fresh schema): one runner per key, replays, conflicts,
// abandoned and expired keys, and a takeover when the owning process died.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGatewayError } from '../core/errors.js';
import pino from 'pino';
import type { IdempotencyStore } from '../core/ports/idempotency-store.js';
import { manualClock } from '../core/ports/clock.js';
import { openDatabaseStores } from '../storage/open-storage.js';
import type { DatabaseStores } from '../storage/storage.js';
import { createTestSchema, type TestSchema } from '../testing/postgres.js';
import { requestFingerprint } from './fingerprint.js';
import { createIdempotencyService, type BeginResult } from './service.js';

let folder: string;
let database: DatabaseStores;
let postgresSchema: TestSchema | undefined;
let store: IdempotencyStore;
const clock = manualClock(1_700_000_000_000);

async function openBackend(backend: 'sqlite' | 'postgres'): Promise<void> {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-idempotency-'));
  postgresSchema = backend === 'postgres' ? createTestSchema('idempotency') : undefined;
  const location = postgresSchema ? { backend: 'postgres' as const, url: postgresSchema.url } : { backend: 'sqlite' as const, file: join(folder, 'imagegate.db') };
  database = await openDatabaseStores(location, { clock, logger: pino({ level: 'silent' }) });
  store = database.idempotency;
}

async function closeBackend(): Promise<void> {
  await database.close();
  await postgresSchema?.drop();
  await rm(folder, { recursive: true, force: true });
}

const scope = (requestHash = 'hash-a', idempotencyKey = 'key-1') => ({ keyId: 'api_key_1', idempotencyKey, requestHash });
const response = (body: string) => ({ kind: 'json', status: 200, headers: { 'content-type': 'application/json' }, body });
const conflictOf = (promise: Promise<unknown>) => promise.then(() => undefined, (error: unknown) => (isGatewayError(error) ? error.code : String(error)));

describe.each(['sqlite', 'postgres'] as const)('idempotency service on %s', (backend) => {
  beforeEach(() => openBackend(backend));
  afterEach(() => closeBackend());

  it('lets the first request run and replays its response to the next', async () => {
    const service = createIdempotencyService({ store, clock, owner: 'p1', lockMs: 60_000 });
    const first = await service.begin(scope());
    expect(first.kind).toBe('proceed');
    if (first.kind === 'proceed') await first.ticket.complete(response('{"ok":1}'));
    expect(await service.begin(scope())).toEqual({ kind: 'replay', response: response('{"ok":1}') });
    expect(await conflictOf(service.begin(scope('hash-b')))).toBe('conflict');
  });

  it('makes concurrent duplicates wait for the first, and a different body a conflict at once', async () => {
    const service = createIdempotencyService({ store, clock, owner: 'p1', lockMs: 60_000 });
    const first = await service.begin(scope());
    const waiting = Array.from({ length: 10 }, () => service.begin(scope()));
    expect(await conflictOf(service.begin(scope('hash-b')))).toBe('conflict');
    if (first.kind === 'proceed') await first.ticket.complete(response('{"n":1}'));
    const results = await Promise.all(waiting);
    expect(results.every((result) => result.kind === 'replay')).toBe(true);
  });

  it('after an abandoned run, exactly one waiter runs the request again', async () => {
    const service = createIdempotencyService({ store, clock, owner: 'p1', lockMs: 60_000 });
    const first = await service.begin(scope());
    const waiting = Array.from({ length: 5 }, () => service.begin(scope()));
    if (first.kind === 'proceed') await first.ticket.abandon();
    const next = await Promise.race(waiting);
    expect(next.kind).toBe('proceed');
    if (next.kind === 'proceed') await next.ticket.complete(response('{"second":true}'));
    const results: BeginResult[] = await Promise.all(waiting);
    expect(results.filter((result) => result.kind === 'proceed')).toHaveLength(1);
    expect(results.filter((result) => result.kind === 'replay')).toHaveLength(4);
  });

  it('lets another process take over a key whose owner died, and forgets keys after 24 h', async () => {
    const dead = createIdempotencyService({ store, clock, owner: 'dead', lockMs: 1_000, pollMs: 10 });
    const alive = createIdempotencyService({ store, clock, owner: 'alive', lockMs: 1_000, pollMs: 10 });
    expect((await dead.begin(scope())).kind).toBe('proceed');
    clock.advance(1_001);
    const taken = await alive.begin(scope());
    expect(taken.kind).toBe('proceed');
    if (taken.kind === 'proceed') await taken.ticket.complete(response('{"by":"alive"}'));
    const later = createIdempotencyService({ store, clock, owner: 'later', lockMs: 1_000, pollMs: 10 });
    expect((await later.begin(scope())).kind).toBe('replay');

    clock.advance(24 * 60 * 60 * 1000);
    expect((await alive.begin(scope('another body'))).kind).toBe('proceed');
    clock.advance(24 * 60 * 60 * 1000 + 1);
    expect(await alive.sweep()).toBe(1);
  });

  it('fingerprints by content: key order does not matter, bytes do', () => {
    const image = Buffer.from('image bytes');
    expect(requestFingerprint({ fields: { a: 1, b: [1, 2] }, images: [image] })).toBe(requestFingerprint({ images: [Buffer.from('image bytes')], fields: { b: [1, 2], a: 1 } }));
    expect(requestFingerprint({ fields: { a: 1 }, images: [image] })).not.toBe(requestFingerprint({ fields: { a: 1 }, images: [Buffer.from('other bytes')] }));
  });
});
