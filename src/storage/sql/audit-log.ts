// The audit log on any SQL backend (SQLite, PostgreSQL): one row per action, read newest first.

import type { Kysely, Selectable } from 'kysely';
import type { AuditEntry, AuditLog, AuditQuery } from '../../core/ports/audit-log.js';
import type { AuditLogTable, DatabaseSchema } from './schema.js';

export class SqlAuditLog implements AuditLog {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async record(entry: Omit<AuditEntry, 'id'>): Promise<void> {
    await this.#db
      .insertInto('audit_log')
      .values({
        at: entry.at,
        actor: entry.actor,
        ip: entry.ip,
        action: entry.action,
        target: entry.target,
        changes: JSON.stringify(entry.changes),
        outcome: entry.outcome,
        request_id: entry.requestId,
      })
      .execute();
  }

  async query(filter: AuditQuery): Promise<AuditEntry[]> {
    let query = this.#db.selectFrom('audit_log').selectAll();
    if (filter.action !== undefined) query = query.where('action', '=', filter.action);
    if (filter.target !== undefined) query = query.where('target', '=', filter.target);
    if (filter.from !== undefined) query = query.where('at', '>=', filter.from);
    if (filter.to !== undefined) query = query.where('at', '<', filter.to);
    if (filter.before !== undefined) query = query.where('id', '<', filter.before);
    const rows = await query.orderBy('id', 'desc').limit(filter.limit ?? 100).execute();
    return rows.map(toEntry);
  }
}

function toEntry(row: Selectable<AuditLogTable>): AuditEntry {
  return {
    id: row.id,
    at: row.at,
    actor: row.actor,
    ip: row.ip,
    action: row.action,
    target: row.target,
    changes: JSON.parse(row.changes) as Record<string, unknown>,
    outcome: row.outcome,
    requestId: row.request_id,
  };
}
