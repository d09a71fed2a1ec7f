-- The first schema, PostgreSQL twin of sqlite/migrations/001_init.sql: the same tables and columns.
-- Times are BIGINT ms since epoch; ids and names sort bytewise (COLLATE "C") as on SQLite.
-- Runs inside the migrator's transaction, in the schema of database.url (search_path).

CREATE TABLE api_keys (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  source TEXT NOT NULL
);

CREATE TABLE request_logs (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  key_id TEXT,
  endpoint TEXT NOT NULL,
  model TEXT,
  provider TEXT,
  channel TEXT,
  status INTEGER NOT NULL,
  images_requested INTEGER NOT NULL,
  images_delivered INTEGER NOT NULL,
  size TEXT,
  latency_ms DOUBLE PRECISION NOT NULL,
  error_code TEXT,
  created_at BIGINT NOT NULL
);

CREATE INDEX request_logs_key_id_created_at ON request_logs (key_id, created_at);
CREATE INDEX request_logs_created_at ON request_logs (created_at);

CREATE TABLE tasks (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  key_id TEXT NOT NULL,
  operation TEXT NOT NULL,
  model TEXT NOT NULL,
  status TEXT NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL,
  result TEXT,
  error TEXT,
  upstream_job TEXT,
  lease_owner TEXT,
  lease_expires_at BIGINT,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  completed_at BIGINT
);

CREATE INDEX tasks_status_created_at ON tasks (status, created_at);
CREATE INDEX tasks_key_id_created_at ON tasks (key_id, created_at);
