// Applies the numbered SQL migrations in ./migrations once each, under a write lock shared by every process.

import { readdir, readFile } from 'node:fs/promises';
import { sql, type Kysely } from 'kysely';
import type { DatabaseSchema } from '../sql/schema.js';

export interface Migration {
  version: number;
  /** The file name without its number and extension, e.g. `init`. */
  name: string;
  sql: string;
}

export interface MigrateResult {
  /** Migrations this call applied, in order; empty when the database was already up to date. */
  applied: { version: number; name: string }[];
}

export interface MigrateOptions {
  /** Where the `NNN_name.sql` files are; defaults to the folder beside this module. */
  directory?: URL;
  /** Stamped into `schema_migrations.applied_at`. */
  now?: () => number;
}

const defaultDirectory = new URL('./migrations/', import.meta.url);
const fileNamePattern = /^(\d+)_([A-Za-z0-9_-]+)\.sql$/;

/** Reads the migration files, ordered by version; two files with one version are a mistake we refuse. */
export async function loadMigrations(directory: URL = defaultDirectory): Promise<Migration[]> {
  const fileNames = await readdir(directory);
  const migrations: Migration[] = [];
  const seen = new Map<number, string>();
  for (const fileName of fileNames) {
    const match = fileNamePattern.exec(fileName);
    if (!match) continue;
    const version = Number(match[1]);
    const previous = seen.get(version);
    if (previous !== undefined) throw new Error(`Two migrations share version ${version}: ${previous} and ${fileName}`);
    seen.set(version, fileName);
    migrations.push({ version, name: match[2] ?? '', sql: await readFile(new URL(fileName, directory), 'utf8') });
  }
  return migrations.sort((left, right) => left.version - right.version);
}

/**
 * Brings the database up to date. Everything runs inside one BEGIN IMMEDIATE transaction: the
 * write lock is taken before `schema_migrations` is read, so when two processes start at once the
 * second waits (busy_timeout) and then finds the work done. Either all pending migrations apply or none.
 * Versions recorded in the database that this build does not know are left alone (a newer build ran).
 */
export async function migrate(db: Kysely<DatabaseSchema>, options: MigrateOptions = {}): Promise<MigrateResult> {
  const migrations = await loadMigrations(options.directory);
  const now = options.now ?? Date.now;
  return db.connection().execute(async (connection) => {
    await sql`BEGIN IMMEDIATE`.execute(connection);
    try {
      await sql`CREATE TABLE IF NOT EXISTS schema_migrations (
        version INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        applied_at INTEGER NOT NULL
      )`.execute(connection);
      const rows = await connection.selectFrom('schema_migrations').select('version').execute();
      const done = new Set(rows.map((row) => row.version));
      const applied: MigrateResult['applied'] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        for (const statement of splitSqlStatements(migration.sql)) {
          await sql.raw(statement).execute(connection);
        }
        await connection
          .insertInto('schema_migrations')
          .values({ version: migration.version, name: migration.name, applied_at: now() })
          .execute();
        applied.push({ version: migration.version, name: migration.name });
      }
      await sql`COMMIT`.execute(connection);
      return { applied };
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => undefined);
      throw error;
    }
  });
}

/**
 * Splits a migration file into single statements, since the driver prepares one statement at a
 * time. Semicolons inside quotes, identifiers and comments do not split; a CREATE TRIGGER body runs
 * until the `END;` that closes it (like sqlite3_complete, a `CASE … END;` inside a trigger body would
 * end it early, so write `END` of a CASE on a line without its semicolon).
 */
export function splitSqlStatements(text: string): string[] {
  const statements: string[] = [];
  let start = 0;
  let words: string[] = [];
  let index = 0;
  const push = (end: number) => {
    const statement = text.slice(start, end).trim();
    if (words.length > 0) statements.push(statement);
    words = [];
    start = end + 1;
  };
  while (index < text.length) {
    const character = text[index] ?? '';
    const next = text[index + 1] ?? '';
    if (character === '-' && next === '-') {
      const end = text.indexOf('\n', index);
      index = end === -1 ? text.length : end + 1;
    } else if (character === '/' && next === '*') {
      const end = text.indexOf('*/', index + 2);
      index = end === -1 ? text.length : end + 2;
    } else if (character === "'" || character === '"' || character === '`' || character === '[') {
      const closing = character === '[' ? ']' : character;
      let end = index + 1;
      // A doubled quote inside a quoted string is an escaped quote, not the end.
      while (end < text.length) {
        if (text[end] === closing) {
          if (closing !== ']' && text[end + 1] === closing) end += 2;
          else break;
        } else end += 1;
      }
      words.push('"');
      index = end + 1;
    } else if (/[A-Za-z0-9_]/.test(character)) {
      let end = index + 1;
      while (end < text.length && /[A-Za-z0-9_$]/.test(text[end] ?? '')) end += 1;
      words.push(text.slice(index, end).toUpperCase());
      index = end;
    } else if (character === ';') {
      const isTrigger = words[0] === 'CREATE' && (words[1] === 'TRIGGER' || (/^TEMP(ORARY)?$/.test(words[1] ?? '') && words[2] === 'TRIGGER'));
      if (!isTrigger || words.at(-1) === 'END') push(index);
      else words.push(';');
      index += 1;
    } else {
      index += 1;
    }
  }
  push(text.length);
  return statements;
}
