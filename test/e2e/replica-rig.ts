// Several gateway processes sharing one database — one PostgreSQL schema (each replica with its own
// data dir, so nothing is shared through the disk), or one SQLite data dir for processes on one
// machine — and optionally one Redis prefix and one S3 bucket, for the scale-out tests. Requests are
// spread over the replicas by the tests themselves (no balancer).

import { join } from 'node:path';
import pg from 'pg';
import { createTestSchema, testPostgresServer, type TestSchema } from '../../src/testing/postgres.js';
import { adminToken } from './billing-support.js';
import { startChild, stop, type ChildGateway } from './child-gateway.js';
import { queryDatabase } from './task-helpers.js';

/** Every replica must sign and verify the same URLs and webhooks: one secret for all, as the README asks. */
export const sharedSecrets = {
  IMAGEGATE_SIGNING_SECRET: 'replica-signing-secret-0123456789abcdef',
  IMAGEGATE_WEBHOOK_SECRET: 'whsec_cmVwbGljYS13ZWJob29rLXNlY3JldA==',
  IMAGEGATE_ADMIN_TOKEN: adminToken,
  // Upstream keys are stored encrypted; a replica with another key could not read the channels.
  IMAGEGATE_SECRETS_KEY: Buffer.alloc(32, 7).toString('base64'),
};

/** The one database the replicas share. */
export interface SharedDatabase {
  /** Environment that points a replica at it. */
  env: Record<string, string>;
  /** The data dir of replica `index` (one for all on SQLite; one each on Postgres). */
  dataDirFor(index: number): string;
  /** Reads rows; `?` placeholders on both backends. */
  query<T>(text: string, ...parameters: unknown[]): Promise<T[]>;
  drop(): Promise<void>;
}

export function sqliteDataDir(folder: string): SharedDatabase {
  const dataDir = join(folder, 'data');
  return {
    env: {},
    dataDirFor: () => dataDir,
    query: async <T>(text: string, ...parameters: unknown[]) => queryDatabase<T>(dataDir, text, ...parameters),
    drop: async () => undefined,
  };
}

export function postgresSchema(folder: string, label: string): SharedDatabase {
  const schema: TestSchema = createTestSchema(label);
  return {
    env: { IMAGEGATE_DATABASE_URL: schema.url },
    dataDirFor: (index) => join(folder, `data-${index}`),
    async query<T>(text: string, ...parameters: unknown[]) {
      const client = new pg.Client({ connectionString: testPostgresServer });
      await client.connect();
      try {
        await client.query(`SET search_path TO "${schema.schema}"`);
        let position = 0;
        const result = await client.query(text.replace(/\?/g, () => `$${(position += 1)}`), parameters);
        // COUNT and SUM come back as text (BIGINT / NUMERIC): numbers, as SQLite gives them.
        return result.rows.map((row: Record<string, unknown>) =>
          Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : value])),
        ) as T[];
      } finally {
        await client.end();
      }
    },
    drop: () => schema.drop(),
  };
}

export interface ReplicaOptions {
  database: SharedDatabase;
  configFile: string;
  count: number;
  /** Added to every replica's environment (Redis, S3 …). */
  env?: Record<string, string>;
}

export function replicaEnv(options: Pick<ReplicaOptions, 'database' | 'env'>): Record<string, string> {
  return { ...sharedSecrets, ...options.database.env, ...options.env };
}

export async function startReplicas(options: ReplicaOptions): Promise<ChildGateway[]> {
  const env = replicaEnv(options);
  // The first applies the migrations and seeds the channels; the others, started together, find them done.
  const first = await startChild(options.database.dataDirFor(0), options.configFile, env);
  const others = await Promise.all(Array.from({ length: options.count - 1 }, (_, index) => startChild(options.database.dataDirFor(index + 1), options.configFile, env)));
  return [first, ...others];
}

export async function stopReplicas(replicas: ChildGateway[]): Promise<void> {
  await Promise.all(replicas.map((replica) => stop(replica)));
}

/**
 * Polls `check` on each replica until it holds on all of them; answers how long that took after
 * `since`. Fails when `deadlineMs` (plus slack to report the figure) passes first. Polls, never sleeps a fixed time.
 */
export async function untilHonoured(replicas: ChildGateway[], check: (replica: ChildGateway) => Promise<boolean>, since: number, deadlineMs: number): Promise<number> {
  const pending = new Set(replicas);
  const giveUp = since + deadlineMs + 2_000;
  while (pending.size > 0) {
    for (const replica of [...pending]) if (await check(replica)) pending.delete(replica);
    if (pending.size === 0) break;
    if (Date.now() > giveUp) throw new Error(`${pending.size} replica(s) still did not honour the change ${Date.now() - since} ms after it was made`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - since;
}
