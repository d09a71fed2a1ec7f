// The PostgreSQL side of the benchmark: a fresh schema on the given server for one run (the gateway's
// migrator creates it on first open, as a fresh deployment's would), dropped when the run ends, so runs
// never meet each other's tasks or the test suites' schemas on a shared server.

import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server every developer machine and CI runs (trust auth, database `test`); `--postgres off` skips it. */
export const defaultBenchPostgresServer = process.env.IMAGEGATE_BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchSchema {
  /** The run's schema name; each scenario gets its own schema named after it (`forScenario`). */
  schema: string;
  /** `database.url` for a scenario's gateway: the server URL with `?schema=<run schema>_s<id>` (a gateway's secrets key is its own, so two never share a schema). */
  forScenario(id: number): string;
  /** Drops every schema handed out. */
  drop(): Promise<void>;
}

async function runOnServer(server: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: server, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/**
 * The system catalogs every schema's creation and drop leaves dead rows in (18 tables' columns, types,
 * dependencies). On a server without autovacuum (CI's turns it off) the test suites' schemas pile up
 * there — 100,000 dead rows of pg_attribute after one run of them here — and every plan and catalog
 * lookup of the run reads past them: the gateway's and the server's CPU per request on PostgreSQL came
 * out higher until they were vacuumed. Needs the catalogs' owner; without it VACUUM only warns.
 */
const bloatedCatalogs = ['pg_attribute', 'pg_attrdef', 'pg_class', 'pg_constraint', 'pg_depend', 'pg_index', 'pg_namespace', 'pg_type', 'pg_statistic'];

/** Checks that the server answers, then names a schema for this run; rejects with the reason when it does not. */
export async function createBenchSchema(server: string): Promise<BenchSchema> {
  await runOnServer(server, 'SELECT 1');
  await runOnServer(server, `VACUUM ${bloatedCatalogs.map((name) => `pg_catalog.${name}`).join(', ')}`);
  const schema = `bench_${randomBytes(6).toString('hex')}`;
  const handedOut = new Set<string>();
  return {
    schema,
    forScenario: (id) => {
      const name = `${schema}_s${id}`;
      handedOut.add(name);
      const url = new URL(server);
      url.searchParams.set('schema', name);
      return url.toString();
    },
    drop: async () => {
      for (const name of handedOut) await runOnServer(server, `DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    },
  };
}
