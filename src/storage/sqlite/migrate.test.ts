// The migrator: numbered files in order, all-or-nothing, and SQL files split into statements correctly.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from './database.js';
import { loadMigrations, migrate, splitSqlStatements } from './migrate.js';

describe('migrate', () => {
  let folder: string;
  let migrations: URL;
  let database: SqliteDatabase;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'imagegate-migrate-'));
    migrations = pathToFileURL(join(folder, 'migrations') + '/');
    await mkdir(join(folder, 'migrations'));
    database = openSqliteDatabase({ file: join(folder, 'test.db') });
  });

  afterEach(async () => {
    await database.close();
    await rm(folder, { recursive: true, force: true });
  });

  const tableNames = async () =>
    (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`.execute(database.db)).rows.map((row) => row.name);

  it('creates the documented tables and indexes on a real database', async () => {
    const { applied } = await migrate(database.db, { now: () => 1234 });
    expect(applied[0]).toStrictEqual({ version: 1, name: 'init' });
    expect(await tableNames()).toEqual(expect.arrayContaining(['api_keys', 'request_logs', 'schema_migrations', 'tasks']));
    const indexes = (await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_%'`.execute(database.db)).rows.map(
      (row) => row.name,
    );
    expect(indexes).toEqual(
      expect.arrayContaining(['request_logs_key_id_created_at', 'request_logs_created_at', 'tasks_status_created_at', 'tasks_key_id_created_at']),
    );
    const stamp = await database.db.selectFrom('schema_migrations').select('applied_at').where('version', '=', 1).executeTakeFirstOrThrow();
    expect(stamp.applied_at).toBe(1234);
  });

  it('applies files in numeric order and only the new ones on the next run', async () => {
    await writeFile(join(folder, 'migrations/002_second.sql'), 'ALTER TABLE things ADD COLUMN colour TEXT;');
    await writeFile(join(folder, 'migrations/001_first.sql'), 'CREATE TABLE things (id TEXT PRIMARY KEY);');
    await writeFile(join(folder, 'migrations/README.md'), 'not a migration');
    expect((await migrate(database.db, { directory: migrations })).applied).toStrictEqual([
      { version: 1, name: 'first' },
      { version: 2, name: 'second' },
    ]);
    await writeFile(join(folder, 'migrations/010_tenth.sql'), "INSERT INTO things (id, colour) VALUES ('a', 'red');");
    expect((await migrate(database.db, { directory: migrations })).applied).toStrictEqual([{ version: 10, name: 'tenth' }]);
    expect((await sql<{ colour: string }>`SELECT colour FROM things`.execute(database.db)).rows).toStrictEqual([{ colour: 'red' }]);
  });

  it('applies nothing when one pending migration fails, and finishes once it is fixed', async () => {
    await writeFile(join(folder, 'migrations/001_good.sql'), 'CREATE TABLE good (id TEXT);');
    await writeFile(join(folder, 'migrations/002_bad.sql'), 'CREATE TABLE other (id TEXT);\nCREATE TABLE good (id TEXT);');
    await expect(migrate(database.db, { directory: migrations })).rejects.toThrow(/good/);
    expect(await tableNames()).not.toContain('good');
    expect(await tableNames()).not.toContain('other');

    await writeFile(join(folder, 'migrations/002_bad.sql'), 'CREATE TABLE other (id TEXT);');
    expect((await migrate(database.db, { directory: migrations })).applied.map((migration) => migration.version)).toStrictEqual([1, 2]);
    expect(await tableNames()).toEqual(expect.arrayContaining(['good', 'other']));
  });

  it('refuses two files with the same version', async () => {
    await writeFile(join(folder, 'migrations/003_billing.sql'), 'CREATE TABLE billing (id TEXT);');
    await writeFile(join(folder, 'migrations/003_channels.sql'), 'CREATE TABLE channels (id TEXT);');
    await expect(loadMigrations(migrations)).rejects.toThrow(/version 3/);
    await expect(migrate(database.db, { directory: migrations })).rejects.toThrow(/version 3/);
  });

  it('runs a file with triggers, quoted semicolons and comments', async () => {
    await writeFile(
      join(folder, 'migrations/001_triggers.sql'),
      `-- a comment; with a semicolon
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT DEFAULT 'a;b', "odd;name" TEXT);
CREATE TABLE audit (note_id INTEGER, what TEXT);
/* block comment; still a comment */
CREATE TRIGGER notes_audit AFTER INSERT ON notes
BEGIN
  INSERT INTO audit (note_id, what) VALUES (new.id, 'inserted; really');
  INSERT INTO audit (note_id, what) VALUES (new.id, 'twice');
END;
INSERT INTO notes (id) VALUES (1);
`,
    );
    await migrate(database.db, { directory: migrations });
    const audit = (await sql<{ what: string }>`SELECT what FROM audit ORDER BY rowid`.execute(database.db)).rows;
    expect(audit).toStrictEqual([{ what: 'inserted; really' }, { what: 'twice' }]);
    const body = (await sql<{ body: string }>`SELECT body FROM notes`.execute(database.db)).rows;
    expect(body).toStrictEqual([{ body: 'a;b' }]);
  });
});

describe('splitSqlStatements', () => {
  it('splits on semicolons outside quotes and comments and drops empty statements', () => {
    expect(splitSqlStatements("SELECT 'it''s; fine';\n-- only a comment;\n;SELECT [a;b] FROM `c;d`;  ")).toStrictEqual([
      "SELECT 'it''s; fine'",
      'SELECT [a;b] FROM `c;d`',
    ]);
  });

  it('keeps a temporary trigger body whole', () => {
    const statements = splitSqlStatements('CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; SELECT 2; END; SELECT 3');
    expect(statements).toStrictEqual(['CREATE TEMP TRIGGER t AFTER INSERT ON x BEGIN SELECT 1; SELECT 2; END', 'SELECT 3']);
  });
});
