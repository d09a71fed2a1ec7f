// The hot path's statements as the server sees them: prepared once per connection under a name, or
// (database.prepared_statements: false, for a transaction-mode pooler) never.

import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestSchema } from '../../testing/postgres.js';
import { openPostgresDatabase, type PostgresDatabase } from './database.js';

const schema = createTestSchema('prepared');
afterAll(() => schema.drop());

/** The statements prepared on the one connection of a one-connection pool, as pg_prepared_statements lists them. */
async function preparedOn(database: PostgresDatabase): Promise<Array<{ name: string; statement: string }>> {
  const listed = await database.statements.query<{ name: string; statement: string }>({ text: 'SELECT name, statement FROM pg_prepared_statements ORDER BY name', values: [] });
  return listed.rows;
}

async function withDatabase(prepare: boolean, work: (database: PostgresDatabase) => Promise<void>): Promise<void> {
  const database = openPostgresDatabase({ url: schema.url, maxConnections: 1, prepareStatements: prepare });
  try {
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(schema.schema)}`.execute(database.db);
    await sql`CREATE TABLE IF NOT EXISTS notes (id integer PRIMARY KEY, body text NOT NULL)`.execute(database.db);
    await work(database);
  } finally {
    await database.close();
  }
}

describe('PreparedStatements', () => {
  it('prepares a text once per connection under one name and runs it again by that name, with the values of each call', async () => {
    await withDatabase(true, async (database) => {
      const insert = 'INSERT INTO notes (id, body) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET body = excluded.body';
      await database.statements.query({ text: insert, values: [1, 'first'] });
      await database.statements.query({ text: insert, values: [2, 'second'] });
      await database.statements.query({ text: 'SELECT body FROM notes WHERE id = $1', values: [1] });
      const read = await database.statements.query<{ body: string }>({ text: 'SELECT body FROM notes WHERE id = $1', values: [2] });
      expect(read.rows).toEqual([{ body: 'second' }]);

      const prepared = (await preparedOn(database)).filter((row) => !row.statement.includes('pg_prepared_statements'));
      expect(prepared.map((row) => row.statement)).toEqual([insert, 'SELECT body FROM notes WHERE id = $1']);
      expect(new Set(prepared.map((row) => row.name)).size).toBe(2);
    });
  });

  it('sends every statement unnamed when preparing is off: nothing stays prepared on the connection', async () => {
    await withDatabase(false, async (database) => {
      await database.statements.query({ text: 'INSERT INTO notes (id, body) VALUES ($1, $2) ON CONFLICT DO NOTHING', values: [3, 'third'] });
      const read = await database.statements.query<{ body: string }>({ text: 'SELECT body FROM notes WHERE id = $1', values: [3] });
      expect(read.rows).toEqual([{ body: 'third' }]);
      expect(await preparedOn(database)).toEqual([]);
    });
  });

  it('commits a transaction whose work resolves, and rolls back every statement of one whose work throws', async () => {
    await withDatabase(true, async (database) => {
      await database.statements.transaction(async (run) => {
        await run({ text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [10, 'kept'] });
        await run({ text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [11, 'kept too'] });
      });
      const failed = await database.statements
        .transaction(async (run) => {
          await run({ text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [12, 'undone'] });
          await run({ text: 'INSERT INTO notes (id, body) VALUES ($1, $2)', values: [10, 'a duplicate'] });
        })
        .then(
          () => undefined,
          (error: unknown) => error,
        );
      expect(failed).toMatchObject({ code: '23505' });
      const rows = await database.statements.query<{ id: number; body: string }>({ text: 'SELECT id, body FROM notes WHERE id >= $1 ORDER BY id', values: [10] });
      expect(rows.rows).toEqual([
        { id: 10, body: 'kept' },
        { id: 11, body: 'kept too' },
      ]);
      // The connection is usable afterwards (not left inside the aborted transaction).
      expect((await database.statements.query<{ one: number }>({ text: 'SELECT 1 AS one', values: [] })).rows).toEqual([{ one: 1 }]);
    });
  });
});
