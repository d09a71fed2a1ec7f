-- Twin of sqlite/migrations/007_task_claim_by_key.sql: a key's oldest queued task in one index lookup.
CREATE INDEX tasks_status_key_id_created_at_id ON tasks (status, key_id, created_at, id);
