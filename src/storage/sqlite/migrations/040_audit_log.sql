-- The audit log: one row per admin action (and sign-in), who did it, from where, and what changed.
-- Secrets are masked before they get here. Times are integer ms since epoch. Runs inside the migrator's transaction.

CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  -- 'admin token', 'operator session', or 'key <id>' (a key holder's own action).
  actor TEXT NOT NULL,
  ip TEXT,
  -- e.g. key.created, key.topped_up, channel.tested, price.changed, session.signed_in.
  action TEXT NOT NULL,
  -- What the action was on: a key id, a channel name, a model.
  target TEXT,
  -- JSON: the fields sent (secrets masked) and anything the action reported.
  changes TEXT NOT NULL,
  -- 'ok', or the error code the action was refused with.
  outcome TEXT NOT NULL,
  request_id TEXT
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action_at ON audit_log (action, at);
