// Opens the embedded SQLite database (better-sqlite3 behind Kysely) with the pragmas the stores rely on.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { DatabaseSchema } from './schema.js';

export interface SqliteDatabase {
  db: Kysely<DatabaseSchema>;
  /** Closes the connection; safe to call more than once. */
  close(): Promise<void>;
}

export interface SqliteDatabaseOptions {
  /** Path of the database file, or `:memory:` for a private in-memory database (tests). */
  file: string;
}

/** How long a writer waits for another connection's lock before failing with SQLITE_BUSY. */
const busyTimeoutMs = 5_000;

export function openSqliteDatabase(options: SqliteDatabaseOptions): SqliteDatabase {
  const inMemory = options.file === ':memory:' || options.file === '';
  // Start-up only, never on a request path: a synchronous mkdir keeps the factory synchronous.
  if (!inMemory) mkdirSync(dirname(options.file), { recursive: true });
  const database = new Database(options.file);
  // busy_timeout first: switching to WAL takes a lock that another starting process may hold.
  database.pragma(`busy_timeout = ${busyTimeoutMs}`);
  // WAL lets readers run beside the one writer; NORMAL is durable across application crashes in WAL
  // mode and only risks the last transactions on power loss, which is acceptable for this data.
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');

  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database }) });
  let closing: Promise<void> | undefined;
  return {
    db,
    close: () => {
      closing ??= db.destroy();
      return closing;
    },
  };
}
