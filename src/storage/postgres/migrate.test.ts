// Migrations on PostgreSQL: replicas starting together on an empty schema apply each migration
// exactly once (the advisory lock), and a failing migration leaves nothing of itself behind.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/ports/clock.js';
import { createTestSchema, runOnTestServer, type TestSchema } from '../../testing/postgres.js';
import { openPostgresDatabase } from './database.js';
import { migratePostgres } from './migrate.js';
import { openPostgresStorage } from './postgres-storage.js';

const schemas: TestSchema[] = [];
afterEach(async () => {
  await Promise.all(schemas.splice(0).map((schema) => schema.drop()));
});

describe('PostgreSQL migrations', () => {
  it('three processes starting at once on an empty schema apply each migration once', async () => {
    const schema = createTestSchema('migrate_race');
    schemas.push(schema);
    const opened = await Promise.all(
      Array.from({ length: 3 }, () => openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 1 })),
    );
    await Promise.all(opened.map((stores) => stores.close()));
    const { rows } = await runOnTestServer(`SELECT version, count(*)::int AS times FROM "${schema.schema}".schema_migrations GROUP BY version ORDER BY version`);
    expect(rows.length).toBeGreaterThanOrEqual(5);
    expect(rows.every((row: { times: number }) => row.times === 1)).toBe(true);
  });

  it('rolls a failing migration back whole and names it; the ones before it stay applied', async () => {
    const schema = createTestSchema('migrate_fail');
    schemas.push(schema);
    const folder = await mkdtemp(join(tmpdir(), 'imagegate-pg-migrations-'));
    try {
      await writeFile(join(folder, '001_first.sql'), 'CREATE TABLE first_table (id INTEGER PRIMARY KEY);');
      await writeFile(join(folder, '002_broken.sql'), 'CREATE TABLE half_made (id INTEGER);\nSELECT * FROM no_such_table;');
      const database = openPostgresDatabase({ url: schema.url, maxConnections: 1 });
      try {
        const directory = pathToFileURL(`${folder}/`);
        await expect(migratePostgres(database.db, { schema: schema.schema, directory })).rejects.toThrow(/PostgreSQL migration 2_broken failed: .*no_such_table/);
      } finally {
        await database.close();
      }
      const { rows } = await runOnTestServer('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name', [schema.schema]);
      expect(rows.map((row: { table_name: string }) => row.table_name)).toEqual(['first_table', 'schema_migrations']);
      const applied = await runOnTestServer(`SELECT version FROM "${schema.schema}".schema_migrations`);
      expect(applied.rows).toEqual([{ version: 1 }]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
