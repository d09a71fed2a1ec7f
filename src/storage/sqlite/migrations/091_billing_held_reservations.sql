-- Reservations are read by status only while held: a key's books (the sum a key holds) and the held
-- total of the insights and metrics. The (key_id, status) index had an entry for every reservation
-- ever made, which every settlement moved from 'held' to 'settled', and could not serve the held total
-- at all (a scan of the whole table at each metrics scrape). A partial index keeps only the held rows
-- (those of the requests and tasks in flight) with their debit, so both reads are covered by it and a
-- settlement only removes its entry.
-- Migration files run inside the migrator's transaction: no BEGIN/COMMIT and no PRAGMA here.

DROP INDEX billing_reservations_key_id_status;
CREATE INDEX billing_reservations_held ON billing_reservations (key_id, debited) WHERE status = 'held';
