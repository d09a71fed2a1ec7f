// Where idempotency records live: one per (API key, Idempotency-Key), claimed by the first request
// through a unique constraint, holding the response (or a reference to it) once it is known.

/** A response to replay; `kind` says how the HTTP layer renders it (see src/http/image-tasks.ts). */
export interface StoredResponse {
  kind: string;
  status: number;
  /** The headers worth replaying (location, provider, warnings), lower-case. */
  headers: Record<string, string>;
  [field: string]: unknown;
}

export interface IdempotencyRecord {
  keyId: string;
  idempotencyKey: string;
  requestHash: string;
  state: 'running' | 'done';
  owner: string | null;
  lockedUntil: number | null;
  response: StoredResponse | null;
  createdAt: number;
  expiresAt: number;
}

export interface IdempotencyStore {
  /** Inserts a running record; false when the key already has one, whatever its state. */
  insertRunning(record: { keyId: string; idempotencyKey: string; requestHash: string; owner: string; lockedUntil: number; createdAt: number; expiresAt: number }): Promise<boolean>;
  get(keyId: string, idempotencyKey: string): Promise<IdempotencyRecord | undefined>;
  /** Takes a running record whose lock has expired (its owner died); false when another holds it. */
  takeOver(keyId: string, idempotencyKey: string, owner: string, now: number, lockedUntil: number): Promise<boolean>;
  /** Stores the response of a record `owner` holds. */
  complete(keyId: string, idempotencyKey: string, owner: string, response: StoredResponse): Promise<boolean>;
  /** Deletes a running record `owner` holds: the request ended with nothing to replay, and may be sent again. */
  abandon(keyId: string, idempotencyKey: string, owner: string): Promise<void>;
  /** Deletes the record if it has expired, so the key can be used afresh. */
  deleteIfExpired(keyId: string, idempotencyKey: string, now: number): Promise<void>;
  /** Retention: deletes every expired record; returns how many. */
  deleteExpired(now: number): Promise<number>;
}
