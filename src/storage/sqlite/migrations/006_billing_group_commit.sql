-- Billing for group commit and crash recovery:
-- * reservation ids are scoped to their key: a client's X-Request-Id is a label another tenant may
--   use too (issue 9, item 12), so the key is part of every reservation's and usage row's identity;
-- * `holder` names the live process a synchronous request's reservation depends on; NULL once a
--   task (which any process can resume) holds it. A reservation whose holder is gone is swept;
-- * `swept`: released by the sweep. A task that was created just before its process died may still
--   settle it later; that settle then charges afresh instead of being ignored like a release.
-- * gateway_processes: one row per running gateway process, its lease renewed by heartbeats.

CREATE TABLE billing_reservations_new (
  key_id TEXT NOT NULL,
  id TEXT NOT NULL,
  model TEXT NOT NULL,
  operation TEXT NOT NULL,
  images_requested INTEGER NOT NULL,
  size TEXT NOT NULL,
  quality TEXT,
  price_group TEXT NOT NULL,
  pricing TEXT NOT NULL,
  facts TEXT NOT NULL,
  estimated INTEGER NOT NULL CHECK (estimated >= 0),
  debited INTEGER NOT NULL CHECK (debited >= 0),
  status TEXT NOT NULL CHECK (status IN ('held', 'settled', 'released', 'swept')),
  holder TEXT,
  created_at INTEGER NOT NULL,
  closed_at INTEGER,
  PRIMARY KEY (key_id, id)
);

INSERT INTO billing_reservations_new
  (key_id, id, model, operation, images_requested, size, quality, price_group, pricing, facts, estimated, debited, status, holder, created_at, closed_at)
SELECT key_id, id, model, operation, images_requested, size, quality, price_group, pricing, facts, estimated, debited, status, NULL, created_at, closed_at
FROM billing_reservations;

DROP TABLE billing_reservations;
ALTER TABLE billing_reservations_new RENAME TO billing_reservations;

-- What the sweep scans: only reservations still held by some process.
CREATE INDEX billing_reservations_held_by_process ON billing_reservations (created_at) WHERE status = 'held' AND holder IS NOT NULL;
CREATE INDEX billing_reservations_key_id_status ON billing_reservations (key_id, status);

CREATE TABLE billing_usage_new (
  key_id TEXT NOT NULL,
  reservation_id TEXT NOT NULL,
  model TEXT NOT NULL,
  operation TEXT NOT NULL,
  provider TEXT,
  channel TEXT,
  images_requested INTEGER NOT NULL,
  images_delivered INTEGER NOT NULL,
  size TEXT NOT NULL,
  quality TEXT,
  price_group TEXT NOT NULL,
  unit TEXT NOT NULL,
  unit_price INTEGER NOT NULL,
  input_text_tokens INTEGER,
  input_image_tokens INTEGER,
  output_tokens INTEGER,
  amount INTEGER NOT NULL CHECK (amount >= 0),
  metered INTEGER NOT NULL,
  detail TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (key_id, reservation_id)
);

INSERT INTO billing_usage_new
  (key_id, reservation_id, model, operation, provider, channel, images_requested, images_delivered, size, quality, price_group, unit, unit_price,
   input_text_tokens, input_image_tokens, output_tokens, amount, metered, detail, created_at)
SELECT key_id, reservation_id, model, operation, provider, channel, images_requested, images_delivered, size, quality, price_group, unit, unit_price,
   input_text_tokens, input_image_tokens, output_tokens, amount, metered, detail, created_at
FROM billing_usage;

DROP TABLE billing_usage;
ALTER TABLE billing_usage_new RENAME TO billing_usage;

CREATE INDEX billing_usage_key_id_created_at ON billing_usage (key_id, created_at);
CREATE INDEX billing_usage_created_at ON billing_usage (created_at);

CREATE TABLE gateway_processes (
  id TEXT PRIMARY KEY NOT NULL,
  started_at INTEGER NOT NULL,
  -- Renewed by the process's heartbeat; past it the process counts as gone.
  lease_expires_at INTEGER NOT NULL
);
