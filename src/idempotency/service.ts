// Idempotency-Key semantics: the first request with a key runs; the same key with the same body
// gets the stored response without running again; with another body, 409. Identical requests that
// arrive together wait for the first: in this process on a shared promise, across processes on the
// database row the first one inserted.

import { GatewayError } from '../core/errors.js';
import type { Clock } from '../core/ports/clock.js';
import type { IdempotencyStore, StoredResponse } from '../core/ports/idempotency-store.js';

export interface IdempotencyTicket {
  /** Stores the response for replays and releases the waiters. */
  complete(response: StoredResponse): Promise<void>;
  /** Forgets the key (nothing worth replaying happened); a waiter or a retry then runs afresh. */
  abandon(): Promise<void>;
}

export type BeginResult = { kind: 'proceed'; ticket: IdempotencyTicket } | { kind: 'replay'; response: StoredResponse };

export interface IdempotencyScope {
  /** The API key's id: keys are scoped per API key. */
  keyId: string;
  idempotencyKey: string;
  requestHash: string;
}

export interface IdempotencyService {
  begin(scope: IdempotencyScope): Promise<BeginResult>;
  /** Retention: deletes expired records. */
  sweep(): Promise<number>;
}

export interface IdempotencyServiceDeps {
  store: IdempotencyStore;
  clock: Clock;
  /** Names this process in running records. */
  owner: string;
  /** How long a response is replayed (24 h by default). */
  ttlMs?: number;
  /** How long a running record is trusted before another process may take it over (its owner died). */
  lockMs: number;
  /** How often a request waiting on another process's record looks again. */
  pollMs?: number;
}

interface InFlight {
  requestHash: string;
  done: Promise<void>;
  release(): void;
}

const defaultTtlMs = 24 * 60 * 60 * 1000;

function differentBody(): GatewayError {
  return new GatewayError('conflict', 'This Idempotency-Key was already used with a different request. Send a new key for a new request.', {
    param: 'Idempotency-Key',
  });
}

export function createIdempotencyService(deps: IdempotencyServiceDeps): IdempotencyService {
  const { store, clock, owner } = deps;
  const ttlMs = deps.ttlMs ?? defaultTtlMs;
  const pollMs = deps.pollMs ?? 100;
  const inFlight = new Map<string, InFlight>();

  function ticketFor(scope: IdempotencyScope, mapKey: string, entry: InFlight): IdempotencyTicket {
    let settled = false;
    const finish = async (action: () => Promise<unknown>): Promise<void> => {
      if (settled) return;
      settled = true;
      try {
        await action();
      } finally {
        inFlight.delete(mapKey);
        entry.release();
      }
    };
    return {
      complete: (response) => finish(() => store.complete(scope.keyId, scope.idempotencyKey, owner, response)),
      abandon: () => finish(() => store.abandon(scope.keyId, scope.idempotencyKey, owner)),
    };
  }

  async function begin(scope: IdempotencyScope): Promise<BeginResult> {
    const mapKey = `${scope.keyId}\u0000${scope.idempotencyKey}`;
    const waitUntil = performance.now() + deps.lockMs;
    for (;;) {
      const local = inFlight.get(mapKey);
      if (local) {
        if (local.requestHash !== scope.requestHash) throw differentBody();
        await local.done;
        continue;
      }
      // Taken before the first await, so requests of this process never race each other to the database.
      let release = (): void => undefined;
      const entry: InFlight = { requestHash: scope.requestHash, done: new Promise<void>((resolve) => (release = resolve)), release: () => release() };
      inFlight.set(mapKey, entry);
      let proceeding = false;
      try {
        const now = clock.now();
        const lockedUntil = now + deps.lockMs;
        if (await store.insertRunning({ ...scope, owner, lockedUntil, createdAt: now, expiresAt: now + ttlMs })) {
          proceeding = true;
          return { kind: 'proceed', ticket: ticketFor(scope, mapKey, entry) };
        }
        const record = await store.get(scope.keyId, scope.idempotencyKey);
        if (record === undefined) continue;
        if (record.expiresAt <= now) {
          await store.deleteIfExpired(scope.keyId, scope.idempotencyKey, now);
          continue;
        }
        if (record.requestHash !== scope.requestHash) throw differentBody();
        if (record.state === 'done' && record.response !== null) return { kind: 'replay', response: record.response };
        if (record.lockedUntil !== null && record.lockedUntil <= now && (await store.takeOver(scope.keyId, scope.idempotencyKey, owner, now, lockedUntil))) {
          proceeding = true;
          return { kind: 'proceed', ticket: ticketFor(scope, mapKey, entry) };
        }
      } finally {
        if (!proceeding) {
          inFlight.delete(mapKey);
          entry.release();
        }
      }
      // Another process runs this request: wait for its response.
      if (performance.now() > waitUntil) {
        throw new GatewayError('conflict', 'A request with this Idempotency-Key is still being processed. Retry shortly to get its response.', {
          param: 'Idempotency-Key',
          retryable: true,
          retryAfterSeconds: 1,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  return {
    begin,
    sweep: () => store.deleteExpired(clock.now()),
  };
}
