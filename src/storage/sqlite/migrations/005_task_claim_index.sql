-- Workers claim fairly between keys: each candidate is ordered by how many tasks its key has running,
-- a count per candidate row. Without this index SQLite counts by walking every task the key ever had
-- (finished ones included), so a claim over 1,000 queued tasks of a key with 5,000 finished took about
-- 300 ms and the task queue crawled; with it the count reads only the key's running rows (about 1 ms).
CREATE INDEX tasks_key_id_status_lease_expires_at ON tasks (key_id, status, lease_expires_at);
