// The request log's rows on SQLite, written through the group commit instead of a Kysely transaction
// of their own. A Kysely transaction runs every INSERT synchronously on the event loop: a quarter
// second of log rows (250 at 1,000 req/s) held the loop for milliseconds at a time, and when the WAL
// checkpointer held the write lock SQLite's busy handler slept on the loop until it let go (1, 2,
// 5, 10 … ms) with every request of the process stalled. Through the group commit the lock is
// waited for from a timer, and a batch is written a few dozen rows per transaction, each in its own
// turn of the event loop, riding along with whatever billing writes that turn makes, each unit
// without a savepoint of its own (see RunOptions in ./group-commit.ts).

import type Database from 'better-sqlite3';
import type { RequestLogsTable } from '../sql/schema.js';
import type { GroupCommit } from './group-commit.js';

/** Rows per group-commit unit: about half a millisecond of inserts, so no turn is held long. */
const rowsPerUnit = 50;

const columns = [
  'id',
  'request_id',
  'key_id',
  'endpoint',
  'model',
  'provider',
  'channel',
  'status',
  'images_requested',
  'images_delivered',
  'size',
  'latency_ms',
  'error_code',
  'created_at',
  'client_ip',
  'details',
] as const satisfies ReadonlyArray<keyof RequestLogsTable>;

/** Writes request log rows in group-committed units; resolves once every row is committed. */
export function groupCommittedRequestLogRows(native: Database.Database, batches: GroupCommit): (rows: RequestLogsTable[]) => Promise<void> {
  // A retried batch may repeat ids that were written before its failure; the first write wins.
  // Positional parameters, in the order of `columns`: named ones bound from an object cost about 1 µs more per row.
  const insert = native.prepare<unknown[]>(
    `INSERT INTO request_logs (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
  );
  const write = (row: RequestLogsTable) =>
    insert.run(
      row.id, row.request_id, row.key_id, row.endpoint, row.model, row.provider, row.channel, row.status, row.images_requested,
      row.images_delivered, row.size, row.latency_ms, row.error_code, row.created_at, row.client_ip ?? null, row.details ?? null,
    );
  return async (rows) => {
    for (let offset = 0; offset < rows.length; offset += rowsPerUnit) {
      const unit = rows.slice(offset, offset + rowsPerUnit);
      // No savepoint: a unit that fails half-way is retried whole by the log, and the rows it did
      // write are skipped then (ON CONFLICT DO NOTHING). With one, its 50 rows' pages overflowed
      // SQLite's in-memory statement journal into a temporary file in nearly every batch.
      await batches.run(
        () => {
          for (const row of unit) write(row);
        },
        { savepoint: false },
      );
    }
  };
}
