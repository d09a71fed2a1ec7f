// Opens the embedded SQLite database (better-sqlite3 behind Kysely) with the pragmas the stores rely on.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, type SqliteDialectConfig } from 'kysely';
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

/** Distinct SQL texts kept prepared; batch inserts of every size from 1 to 200 rows fit. */
const cachedStatements = 500;

/**
 * Kysely prepares every query anew, and preparing (parsing and planning the SQL) costs more than
 * running these small queries. The stores send the same few texts again and again, so each text is
 * prepared once and its statement reused. better-sqlite3 runs a statement synchronously, so reuse
 * is safe, except while one is still being iterated (a streamed query): that one gets a fresh copy.
 */
export function withStatementCache(database: Database.Database): SqliteDialectConfig['database'] {
  const statements = new Map<string, Database.Statement>();
  return {
    close: () => database.close(),
    prepare(sqlText: string) {
      const cached = statements.get(sqlText);
      if (cached !== undefined && !cached.busy) return cached;
      const statement = database.prepare(sqlText);
      if (cached === undefined) {
        // The oldest text goes first when full; Map keeps insertion order.
        if (statements.size >= cachedStatements) statements.delete(statements.keys().next().value as string);
        statements.set(sqlText, statement);
      }
      return statement;
    },
  };
}

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

  const db = new Kysely<DatabaseSchema>({ dialect: new SqliteDialect({ database: withStatementCache(database) }) });
  let closing: Promise<void> | undefined;
  return {
    db,
    close: () => {
      closing ??= db.destroy();
      return closing;
    },
  };
}
