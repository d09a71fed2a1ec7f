// Applies the numbered SQL migrations in ./migrations once each, under a PostgreSQL advisory lock, so
// replicas starting together apply each migration once; each migration commits or rolls back whole.

import { sql, type Kysely } from 'kysely';
import type { DatabaseSchema } from '../sql/schema.js';
import { loadMigrations, type MigrateResult } from '../sqlite/migrate.js';

export interface PostgresMigrateOptions {
  /** Where the `NNN_name.sql` files are; defaults to the folder beside this module. */
  directory?: URL;
  /** The schema the tables go in; created when missing. */
  schema: string;
  now?: () => number;
}

const defaultDirectory = new URL('./migrations/', import.meta.url);

/**
 * Takes a session advisory lock keyed by the schema (two deployments in two schemas do not wait for
 * each other), reads what is applied, and runs each pending migration in its own transaction —
 * PostgreSQL's DDL is transactional, so a failed migration leaves nothing half-made. Versions in the
 * database this build does not know are left alone (a newer build ran).
 */
export async function migratePostgres(db: Kysely<DatabaseSchema>, options: PostgresMigrateOptions): Promise<MigrateResult> {
  const migrations = await loadMigrations(options.directory ?? defaultDirectory);
  const now = options.now ?? Date.now;
  return db.connection().execute(async (connection) => {
    await sql`SELECT pg_advisory_lock(hashtext(${`imagegate:migrate:${options.schema}`}))`.execute(connection);
    try {
      await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(options.schema)}`.execute(connection);
      await sql`CREATE TABLE IF NOT EXISTS ${sql.id(options.schema, 'schema_migrations')} (
        version INTEGER PRIMARY KEY NOT NULL,
        name TEXT NOT NULL,
        applied_at BIGINT NOT NULL
      )`.execute(connection);
      // Set again now that the schema surely exists: a connection opened before another replica created it
      // can keep resolving unqualified names without it (seen in CI: "relation schema_migrations does not
      // exist" on the second of three replicas), and the migration files use unqualified names.
      await sql`SET search_path TO ${sql.id(options.schema)}, public`.execute(connection);
      const migrationsTable = connection.withSchema(options.schema);
      const rows = await migrationsTable.selectFrom('schema_migrations').select('version').execute();
      const done = new Set(rows.map((row) => row.version));
      const applied: MigrateResult['applied'] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await sql`BEGIN`.execute(connection);
        try {
          // The whole file in one simple-protocol query: PostgreSQL runs several statements in it.
          await sql.raw(migration.sql).execute(connection);
          await migrationsTable.insertInto('schema_migrations').values({ version: migration.version, name: migration.name, applied_at: now() }).execute();
          await sql`COMMIT`.execute(connection);
        } catch (error) {
          await sql`ROLLBACK`.execute(connection).catch(() => undefined);
          throw new Error(`PostgreSQL migration ${migration.version}_${migration.name} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
        }
        applied.push({ version: migration.version, name: migration.name });
      }
      return { applied };
    } finally {
      await sql`SELECT pg_advisory_unlock(hashtext(${`imagegate:migrate:${options.schema}`}))`.execute(connection).catch(() => undefined);
    }
  });
}
