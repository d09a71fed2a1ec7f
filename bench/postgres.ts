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

/** Checks that the server answers, then names a schema for this run; rejects with the reason when it does not. */
export async function createBenchSchema(server: string): Promise<BenchSchema> {
  await runOnServer(server, 'SELECT 1');
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
