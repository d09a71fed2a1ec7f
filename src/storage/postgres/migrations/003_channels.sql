-- Channels managed at run time: PostgreSQL twin of sqlite/migrations/003_channels.sql (JSON as text).

CREATE TABLE channels (
  name TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  provider TEXT NOT NULL,
  base_url TEXT,
  api_keys TEXT NOT NULL DEFAULT '[]',
  models TEXT NOT NULL,
  model_map TEXT NOT NULL DEFAULT '{}',
  priority INTEGER NOT NULL DEFAULT 0,
  weight INTEGER NOT NULL DEFAULT 1,
  enabled INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  max_concurrency INTEGER,
  max_queue INTEGER,
  timeout_ms INTEGER,
  poll_interval_ms INTEGER,
  options TEXT NOT NULL DEFAULT '{}',
  source TEXT NOT NULL,
  config_hash TEXT,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);
