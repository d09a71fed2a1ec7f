-- What the console shows beyond the first schema: sign-in sessions, each task's timeline, and the
-- details of a request (prompt, parameters, warnings, stored images). Runs inside the migrator's transaction.

-- The session id itself is only in the browser's cookie; the database keeps its SHA-256.
CREATE TABLE console_sessions (
  id_hash TEXT PRIMARY KEY NOT NULL,
  -- 'operator' or 'key'.
  role TEXT NOT NULL,
  key_id TEXT,
  -- Sent back by the console in x-csrf-token on every change; compared with this.
  csrf_token TEXT NOT NULL,
  ip TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);

CREATE INDEX console_sessions_expires_at ON console_sessions (expires_at);

-- queued, started, submitted, polled, stored, succeeded, failed, canceled; one row each.
CREATE TABLE task_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  at INTEGER NOT NULL,
  kind TEXT NOT NULL,
  -- JSON: progress, the upstream job's provider and channel, the error code.
  detail TEXT NOT NULL
);

CREATE INDEX task_events_task_id ON task_events (task_id, id);
CREATE INDEX task_events_at ON task_events (at);

-- JSON: prompt (first 1,000 characters), parameters, warnings, stored image keys, task id, generation time.
ALTER TABLE request_logs ADD COLUMN details TEXT;
