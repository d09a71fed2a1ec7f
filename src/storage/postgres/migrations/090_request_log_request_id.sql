-- Twin of sqlite/migrations/090_request_log_request_id.sql: rows get an id of their own, and the request
-- id (which callers choose and may repeat) moves to its own column; older rows keep their id as both.
ALTER TABLE request_logs ADD COLUMN request_id TEXT;
UPDATE request_logs SET request_id = id;
CREATE INDEX request_logs_request_id ON request_logs (request_id);
