// The pool as a request sees it: a wait for a busy pool is a 503 the client may retry, never a 500.

import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { createTestSchema } from '../../testing/postgres.js';
import { openPostgresDatabase } from './database.js';

const schema = createTestSchema('pool');
afterAll(() => schema.drop());

describe('PostgreSQL pool', () => {
  it('answers a query that waited past the pool wait with service_unavailable (503, retry after 1 s), and serves it once a connection is free', async () => {
    const database = openPostgresDatabase({ url: schema.url, maxConnections: 1, poolWaitMs: 300 });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const holder = database.db.connection().execute(async (connection) => {
        await sql`SELECT 1`.execute(connection);
        holding();
        await released;
      });
      await held;
      const waited = await sql`SELECT 1 AS one`.execute(database.db).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(waited).toBeInstanceOf(GatewayError);
      expect(waited).toMatchObject({ code: 'service_unavailable', status: 503, retryAfterSeconds: 1 });
      expect((waited as Error).message).not.toMatch(/postgres|password/i);
      release();
      await holder;
      expect((await sql<{ one: number }>`SELECT 1 AS one`.execute(database.db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await database.close();
    }
  });
});
