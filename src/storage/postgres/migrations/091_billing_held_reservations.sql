-- Twin of sqlite/migrations/091: reservations are read by status only while held (a key's held sum,
-- the held total of insights and metrics), so a partial index of the held rows with their debit
-- replaces the (key_id, status) index that kept an entry for every reservation ever made.
DROP INDEX billing_reservations_key_id_status;
CREATE INDEX billing_reservations_held ON billing_reservations (key_id, debited) WHERE status = 'held';
