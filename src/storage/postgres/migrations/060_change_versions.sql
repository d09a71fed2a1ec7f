-- Twin of sqlite/migrations/060_change_versions.sql: one counter per kind of shared setting (keys,
-- channels), raised by every change and polled by every replica (src/shared-state/polling-change-feed.ts).
CREATE TABLE change_versions (
  topic TEXT PRIMARY KEY,
  version BIGINT NOT NULL
);
