-- One counter per kind of shared setting (keys, channels), raised by every change through the admin API.
-- Each gateway process polls it, so a change made on one process reaches the others on the same
-- database within the poll interval even without Redis (src/shared-state/polling-change-feed.ts).
CREATE TABLE change_versions (
  topic TEXT PRIMARY KEY,
  version INTEGER NOT NULL
);
