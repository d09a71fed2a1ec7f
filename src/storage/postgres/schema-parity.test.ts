// The two databases must keep the same tables and columns, since the stores in storage/sql and
// `imagegate db copy` rely on it: every SQLite migration has its Postgres twin (same number), and
// migrated from empty, both hold the same tables with the same columns.

import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/ports/clock.js';
import { createTestSchema, runOnTestServer, type TestSchema } from '../../testing/postgres.js';
import { openSqliteDatabase, type SqliteDatabase } from '../sqlite/database.js';
import { loadMigrations, migrate } from '../sqlite/migrate.js';
import type { DatabaseStores } from '../storage.js';
import { openPostgresStorage } from './postgres-storage.js';

let schema: TestSchema;
let postgres: DatabaseStores;
let sqlite: SqliteDatabase;

beforeAll(async () => {
  schema = createTestSchema('parity');
  postgres = await openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 1 });
  sqlite = openSqliteDatabase({ file: ':memory:' });
  await migrate(sqlite.db);
});

afterAll(async () => {
  await postgres?.close();
  await sqlite?.close();
  await schema?.drop();
});

describe('SQLite and PostgreSQL schemas', () => {
  it('have a Postgres migration for every SQLite migration number, and no other', async () => {
    const sqliteVersions = (await loadMigrations(new URL('../sqlite/migrations/', import.meta.url))).map((migration) => migration.version);
    const postgresVersions = (await loadMigrations(new URL('./migrations/', import.meta.url))).map((migration) => migration.version);
    expect(postgresVersions).toEqual(sqliteVersions);
  });

  it('hold the same tables with the same columns once migrated', async () => {
    const sqliteTables = await sql<{ table_name: string; column_name: string }>`
      SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master AS m, pragma_table_info(m.name) AS p
      WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.name`.execute(sqlite.db);
    const postgresTables = await runOnTestServer(
      'SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name COLLATE "C", column_name COLLATE "C"',
      [schema.schema],
    );
    const describe = (rows: Array<{ table_name: string; column_name: string }>) => rows.map((row) => `${row.table_name}.${row.column_name}`).toSorted();
    expect(describe(postgresTables.rows as Array<{ table_name: string; column_name: string }>)).toEqual(describe(sqliteTables.rows));
  });
});
