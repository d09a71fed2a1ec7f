-- Channels managed at run time (and those seeded from the config file). JSON columns hold text.
-- Migration files run inside the migrator's transaction: no BEGIN/COMMIT and no PRAGMA here.

CREATE TABLE channels (
  name TEXT PRIMARY KEY NOT NULL,
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
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
