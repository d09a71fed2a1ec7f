-- The first schema: API keys, the request log and asynchronous tasks. Times are integer ms since epoch.
-- Migration files run inside the migrator's transaction: no BEGIN/COMMIT and no PRAGMA here.

CREATE TABLE api_keys (
  id TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  enabled INTEGER NOT NULL DEFAULT 1,
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  source TEXT NOT NULL
);

CREATE TABLE request_logs (
  id TEXT PRIMARY KEY NOT NULL,
  key_id TEXT,
  endpoint TEXT NOT NULL,
  model TEXT,
  provider TEXT,
  channel TEXT,
  status INTEGER NOT NULL,
  images_requested INTEGER NOT NULL,
  images_delivered INTEGER NOT NULL,
  size TEXT,
  latency_ms REAL NOT NULL,
  error_code TEXT,
  created_at INTEGER NOT NULL
);

-- Per-key usage views read a key's rows by time; retention and global views read by time alone.
CREATE INDEX request_logs_key_id_created_at ON request_logs (key_id, created_at);
CREATE INDEX request_logs_created_at ON request_logs (created_at);

CREATE TABLE tasks (
  id TEXT PRIMARY KEY NOT NULL,
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
  lease_expires_at INTEGER,
  attempts INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER
);

-- Workers claim the oldest claimable task by status; clients list their own tasks newest first.
CREATE INDEX tasks_status_created_at ON tasks (status, created_at);
CREATE INDEX tasks_key_id_created_at ON tasks (key_id, created_at);
