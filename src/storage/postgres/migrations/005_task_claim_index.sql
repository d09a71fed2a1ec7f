-- Twin of sqlite/migrations/005_task_claim_index.sql: the claim counts a key's (and a model's)
-- running tasks per candidate; this index keeps that count to the running rows.
CREATE INDEX tasks_key_id_status_lease_expires_at ON tasks (key_id, status, lease_expires_at);
CREATE INDEX tasks_model_status_lease_expires_at ON tasks (model, status, lease_expires_at);
