-- Idempotency keys and webhook deliveries: PostgreSQL twin of sqlite/migrations/002_idempotency.sql.

CREATE TABLE idempotency_keys (
  key_id TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  state TEXT NOT NULL,
  owner TEXT,
  locked_until BIGINT,
  response TEXT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (key_id, idempotency_key)
);

CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);

CREATE TABLE webhook_deliveries (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  task_id TEXT NOT NULL UNIQUE,
  url TEXT NOT NULL,
  secret TEXT,
  public_base TEXT NOT NULL,
  state TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  created_at BIGINT NOT NULL,
  completed_at BIGINT
);

CREATE INDEX webhook_deliveries_state_next_attempt_at ON webhook_deliveries (state, next_attempt_at);

CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  attempted_at BIGINT NOT NULL,
  status_code INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
