-- Idempotency keys, and webhook deliveries of asynchronous tasks with every attempt made.
-- Times are integer ms since epoch. Runs inside the migrator's transaction.

-- One row per (API key, Idempotency-Key): the primary key is what lets two processes agree on which
-- of two identical requests runs; the other waits for its stored response.
CREATE TABLE idempotency_keys (
  key_id TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  -- sha256 of the request (method, path, query, fields, image bytes): a different body is a conflict.
  request_hash TEXT NOT NULL,
  -- 'running' while the first request is being answered, 'done' once its response is stored.
  state TEXT NOT NULL,
  owner TEXT,
  -- A running row whose owner has not finished by then is taken over (the owner died).
  locked_until INTEGER,
  -- JSON of the stored response: rendered JSON, or references (task id, blob keys) re-rendered on replay.
  response TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, idempotency_key)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

-- One row per task with a callback URL; its id is the `webhook-id` every attempt carries.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY NOT NULL,
  task_id TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  -- The client's own whsec_ secret when it gave one; null signs with the gateway's secret.
  secret TEXT,
  -- Base of the image URLs in the delivered task (the public URL the task was submitted to).
  public_base TEXT NOT NULL,
  -- 'waiting' (task not finished), 'pending' (due at next_attempt_at), 'delivered', 'failed'.
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  lease_owner TEXT,
  lease_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  completed_at INTEGER
);

CREATE INDEX webhook_deliveries_state_next_attempt_at ON webhook_deliveries (state, next_attempt_at);

CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  attempted_at INTEGER NOT NULL,
  -- HTTP status of the receiver's answer, or null when none came (network error, refused address).
  status_code INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
