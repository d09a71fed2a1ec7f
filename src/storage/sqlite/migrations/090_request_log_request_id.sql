-- The request log keyed by a row id of its own, with the request id (the caller's X-Request-Id, or ours)
-- beside it. Keyed by the request id alone, a second request reusing an id — another tenant's, or the same
-- client's retry that billing refused with 409 — silently lost its row. Older rows keep their id as both.
-- Migration files run inside the migrator's transaction: no BEGIN/COMMIT and no PRAGMA here.

ALTER TABLE request_logs ADD COLUMN request_id TEXT;
UPDATE request_logs SET request_id = id;
CREATE INDEX request_logs_request_id ON request_logs (request_id);
