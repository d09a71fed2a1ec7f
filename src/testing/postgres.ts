// Test databases on the shared PostgreSQL server: a fresh, uniquely named schema per caller, dropped
// afterwards, so test files (and helpers' suites) run in parallel on one server without meeting.
// The server defaults to the one every developer machine and CI runs (trust auth, database `test`).

import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const testPostgresServer = process.env.IMAGEGATE_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestSchema {
  /** `database.url` for the schema: the server URL with `?schema=<name>`. */
  url: string;
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/** Runs one statement on its own short-lived connection. */
export async function runOnTestServer(text: string, values: unknown[] = []): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: testPostgresServer });
  await client.connect();
  try {
    return await client.query(text, values);
  } finally {
    await client.end();
  }
}

/**
 * A name only (the schema is created by the migrator on first open, as a fresh deployment's would be).
 * `prefix` says which test made it, for anyone looking at the server while tests run.
 */
export function createTestSchema(prefix = 't'): TestSchema {
  const schema = `${prefix}_${randomBytes(6).toString('hex')}`.toLowerCase();
  const url = new URL(testPostgresServer);
  url.searchParams.set('schema', schema);
  return {
    url: url.toString(),
    schema,
    drop: async () => {
      await runOnTestServer(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    },
  };
}
