-- The claim's indexes on PostgreSQL: only the rows a claim can take.
-- An UPDATE that changes an indexed column (every status change, every lease) adds an entry to each
-- of the table's indexes, and the entry of the old row version stays until VACUUM removes it. The
-- claim looked up 'queued' and 'in_progress' rows in (status, key_id, created_at, id), which holds an
-- entry for every version every task ever had; without statistics (autovacuum off or behind) the
-- planner read it with a bitmap scan that visits every such entry's table page at each claim — 3.5 ms
-- and 4,000 buffers per claim after ~7,000 tasks. These partial indexes hold the queued and the running
-- versions only, are what the claim's per-key lookups match exactly (key, then age), and are read by
-- index scans, which mark the dead entries they meet so later scans pass them by.
-- (status, key_id, created_at, id) served only the claim; (model, status, lease_expires_at) nothing
-- since the claim stopped counting running tasks per model. Both cost an entry per row version.
-- Migration files run inside the migrator's transaction: CREATE INDEX (not CONCURRENTLY) holds writes to
-- tasks for the time it takes to build, which reads only the rows the index keeps.
CREATE INDEX tasks_queued_by_key ON tasks (key_id, created_at, id) WHERE status = 'queued';
CREATE INDEX tasks_running_by_key ON tasks (key_id, created_at, id) WHERE status = 'in_progress';
DROP INDEX tasks_status_key_id_created_at_id;
DROP INDEX tasks_model_status_lease_expires_at;
