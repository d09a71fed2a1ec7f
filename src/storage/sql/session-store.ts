// Console sessions on any SQL backend, shared by every process on the database.

import type { Kysely, Selectable } from 'kysely';
import type { ConsoleSession, SessionStore } from '../../core/ports/session-store.js';
import type { ConsoleSessionsTable, DatabaseSchema } from './schema.js';

export class SqlSessionStore implements SessionStore {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async create(session: ConsoleSession): Promise<void> {
    await this.#db
      .insertInto('console_sessions')
      .values({
        id_hash: session.idHash,
        role: session.role,
        key_id: session.keyId,
        csrf_token: session.csrfToken,
        ip: session.ip,
        created_at: session.createdAt,
        expires_at: session.expiresAt,
      })
      .execute();
  }

  async get(idHash: string, now: number): Promise<ConsoleSession | undefined> {
    const row = await this.#db.selectFrom('console_sessions').selectAll().where('id_hash', '=', idHash).where('expires_at', '>', now).executeTakeFirst();
    return row === undefined ? undefined : toSession(row);
  }

  async delete(idHash: string): Promise<void> {
    await this.#db.deleteFrom('console_sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteForKey(keyId: string): Promise<number> {
    const result = await this.#db.deleteFrom('console_sessions').where('key_id', '=', keyId).executeTakeFirst();
    return Number(result.numDeletedRows);
  }

  async deleteExpired(now: number): Promise<number> {
    const result = await this.#db.deleteFrom('console_sessions').where('expires_at', '<=', now).executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

function toSession(row: Selectable<ConsoleSessionsTable>): ConsoleSession {
  return {
    idHash: row.id_hash,
    role: row.role === 'key' ? 'key' : 'operator',
    keyId: row.key_id,
    csrfToken: row.csrf_token,
    ip: row.ip,
    createdAt: row.created_at,
    expiresAt: row.expires_at,
  };
}
