-- The claim picks a key first (fewest running, least recently served, oldest task) and then that
-- key's oldest queued task. This index answers both without reading rows: the keys with queued tasks
-- in one pass over the queued entries, and a key's oldest (created_at, id) in one lookup. Before it,
-- every claim ordered all queued tasks by a count of their key's running ones: about 45 ms per claim
-- with 1,000 queued (on a loaded machine), the task queue's ceiling.
CREATE INDEX tasks_status_key_id_created_at_id ON tasks (status, key_id, created_at, id);
