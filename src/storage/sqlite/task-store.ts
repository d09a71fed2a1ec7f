// The SQLite claim of the task store: everything else is the portable SqlTaskStore.

import { sql, type ExpressionBuilder } from 'kysely';
import type { ClaimOptions, TaskRecord } from '../../core/ports/task-store.js';
import type { DatabaseSchema } from '../sql/schema.js';
import { SqlTaskStore, toRecord } from '../sql/task-store.js';

export class SqliteTaskStore extends SqlTaskStore {
  /**
   * One UPDATE … RETURNING statement: SQLite takes the write lock before the statement reads, so two
   * connections (or processes) sharing the file can never both pick the same row.
   */
  async claim(owner: string, now: number, leaseExpiresAt: number, options: ClaimOptions = {}): Promise<TaskRecord | undefined> {
    const excluded = options.excludeModels ?? [];
    const claimable = (expression: ExpressionBuilder<DatabaseSchema, 'tasks'>) =>
      expression.or([
        expression('status', '=', 'queued'),
        // A running task without a lease (never expected) is treated as expired rather than stuck forever.
        expression.and([
          expression('status', '=', 'in_progress'),
          expression.or([expression('lease_expires_at', '<=', now), expression('lease_expires_at', 'is', null)]),
        ]),
      ]);
    const row = await this.db
      .updateTable('tasks')
      .set((expression) => ({
        status: 'in_progress',
        lease_owner: owner,
        lease_expires_at: leaseExpiresAt,
        attempts: expression('attempts', '+', 1),
        started_at: expression.fn.coalesce('started_at', expression.val(now)),
      }))
      .where('id', '=', (expression) => {
        let candidates = expression.selectFrom('tasks').select('id').where(claimable);
        if (excluded.length > 0) candidates = candidates.where('model', 'not in', excluded);
        if (options.fairness) {
          // `tasks` here is the candidate row of this subquery (the nearest scope of that name).
          candidates = candidates.orderBy(
            sql`(SELECT COUNT(*) FROM tasks AS running WHERE running.key_id = tasks.key_id AND running.status = 'in_progress' AND running.lease_expires_at > ${now})`,
          );
          const served = options.fairness.recentlyServedKeys;
          if (served.length > 0) {
            const ranks = served.map((keyId, index) => sql`WHEN ${keyId} THEN ${index + 1}`);
            candidates = candidates.orderBy(sql`CASE tasks.key_id ${sql.join(ranks, sql` `)} ELSE 0 END`);
          }
        }
        return candidates.orderBy('created_at').orderBy('id').limit(1);
      })
      // Repeated on the outer row so a backend without SQLite's single-writer lock still cannot double-claim.
      .where(claimable)
      .returningAll()
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }
}
