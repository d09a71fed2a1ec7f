// The audit log: every admin action and sign-in, who did it, when, from where, and what changed.

export interface AuditEntry {
  /** Assigned by the store, increasing. */
  id: number;
  at: number;
  /** 'admin token', 'operator session', or 'key <id>'. */
  actor: string;
  ip: string | null;
  /** e.g. key.created, channel.tested, price.changed, session.signed_in. */
  action: string;
  target: string | null;
  /** What was sent and what resulted, secrets already masked (src/audit/mask.ts). */
  changes: Record<string, unknown>;
  /** 'ok', or the error code the action was refused with. */
  outcome: string;
  requestId: string | null;
}

export interface AuditQuery {
  action?: string;
  target?: string;
  /** Inclusive, ms since epoch. */
  from?: number;
  /** Exclusive, ms since epoch. */
  to?: number;
  /** Entries older than this id (paging backwards). */
  before?: number;
  limit?: number;
}

export interface AuditLog {
  record(entry: Omit<AuditEntry, 'id'>): Promise<void>;
  /** Newest first. */
  query(filter: AuditQuery): Promise<AuditEntry[]>;
}
