-- The PostgreSQL twin of sqlite/migrations/006_billing_group_commit.sql:
-- * reservation and usage ids scoped to their key (issue 9, item 12: a client's X-Request-Id is a
--   label another tenant may use too);
-- * `holder`: the live process a synchronous request's reservation depends on, NULL once a task holds it;
-- * `swept`: returned by the sweep after its holder died (a late settle then charges afresh);
-- * gateway_processes: one row per running gateway process, its lease renewed by heartbeats.

ALTER TABLE billing_reservations DROP CONSTRAINT billing_reservations_pkey;
ALTER TABLE billing_reservations ADD PRIMARY KEY (key_id, id);
ALTER TABLE billing_reservations ADD COLUMN holder TEXT;
ALTER TABLE billing_reservations DROP CONSTRAINT billing_reservations_status_check;
ALTER TABLE billing_reservations ADD CONSTRAINT billing_reservations_status_check CHECK (status IN ('held', 'settled', 'released', 'swept'));
CREATE INDEX billing_reservations_held_by_process ON billing_reservations (created_at) WHERE status = 'held' AND holder IS NOT NULL;
CREATE INDEX billing_reservations_key_id_status ON billing_reservations (key_id, status);

ALTER TABLE billing_usage DROP CONSTRAINT billing_usage_pkey;
ALTER TABLE billing_usage ADD PRIMARY KEY (key_id, reservation_id);

CREATE TABLE gateway_processes (
  id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
  started_at BIGINT NOT NULL,
  lease_expires_at BIGINT NOT NULL
);
