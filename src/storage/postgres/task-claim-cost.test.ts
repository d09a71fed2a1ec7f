// What a claim reads on PostgreSQL once many tasks have come and gone. Every status change leaves
// the old row version and its index entries behind until VACUUM (which may be off, or behind on a
// busy queue); a claim that looked tasks up by status through a bitmap scan visited each of those
// versions' table pages at every claim, so its cost grew with the queue's history. The claim reads
// partial indexes of the queued and running rows with index scans, which mark the dead entries
// they meet: after the first claim has passed them, a claim visits only live rows in the table. (The
// marked entries stay in the index's pages until VACUUM: a claim still reads those pages, about one
// per 130 dead entries, where the bitmap read a table page per ~25 dead versions.) Counted by EXPLAIN
// (ANALYZE), never timed.

import pg from 'pg';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../core/ports/clock.js';
import { createTestSchema, testPostgresServer, type TestSchema } from '../../testing/postgres.js';
import type { DatabaseStores } from '../storage.js';
import { openPostgresStorage } from './postgres-storage.js';
import { claimStatement } from './task-store.js';
import { openPostgresDatabase, type PostgresDatabase } from './database.js';

let schema: TestSchema;
let stores: DatabaseStores;
let database: PostgresDatabase;
let client: pg.Client;
const keyId = 'key_claim_cost';
const history = 4_000;

beforeAll(async () => {
  schema = createTestSchema('claimcost');
  stores = await openPostgresStorage({ url: schema.url, clock: systemClock, logger: pino({ level: 'silent' }), maxConnections: 2 });
  database = openPostgresDatabase({ url: schema.url, maxConnections: 1 });
  client = new pg.Client({ connectionString: testPostgresServer });
  await client.connect();
  await client.query(`SET search_path TO "${schema.schema}"`);
  // A queue's history: tasks queued, run and finished, each leaving two dead versions behind.
  await client.query(
    `INSERT INTO tasks (id, key_id, operation, model, status, progress, request, attempts, created_at)
     SELECT 'task_old_' || lpad(n::text, 6, '0'), $1, 'generate', 'gpt-image-1', 'queued', 0, '{}', 0, n FROM generate_series(1, $2) AS n`,
    [keyId, history],
  );
  await client.query("UPDATE tasks SET status = 'in_progress', lease_owner = 'worker_gone', lease_expires_at = 10, attempts = 1");
  await client.query("UPDATE tasks SET status = 'succeeded', lease_owner = NULL, lease_expires_at = NULL, completed_at = 20");
}, 60_000);

afterAll(async () => {
  await client?.end();
  await database?.close();
  await stores?.close();
  await schema?.drop();
});

async function queue(count: number, from: number): Promise<void> {
  await client.query(
    `INSERT INTO tasks (id, key_id, operation, model, status, progress, request, attempts, created_at)
     SELECT 'task_new_' || lpad(n::text, 6, '0'), $1, 'generate', 'gpt-image-1', 'queued', 0, '{}', 0, 1000000 + n FROM generate_series($2::int, $2::int + $3::int - 1) AS n`,
    [keyId, from, count],
  );
}

interface PlanNode {
  'Node Type': string;
  'Index Name'?: string;
  'Heap Fetches'?: number;
  Plans?: PlanNode[];
  'Actual Rows'?: number;
}

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

/**
 * Claims through the statement the store runs, under EXPLAIN: the tasks it took, the row versions it
 * visited in the table from its index-only scans, and the indexes it read through bitmaps.
 */
async function explainedClaim(limit: number): Promise<{ claimed: number; heapFetches: number; bitmapIndexes: string[] }> {
  const statement = claimStatement(database.db, 'worker_now', 2_000_000, 2_060_000, limit, { fairness: { recentlyServedKeys: [] }, recordStarted: true });
  const explained = await client.query(`EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ${statement.text}`, statement.values);
  const plan = (explained.rows[0] as { 'QUERY PLAN': Array<{ Plan: PlanNode }> })['QUERY PLAN'][0]?.Plan;
  if (plan === undefined) throw new Error('EXPLAIN returned no plan');
  const nodes = nodesOf(plan);
  return {
    claimed: plan['Actual Rows'] ?? 0,
    heapFetches: nodes.reduce((sum, node) => sum + (node['Heap Fetches'] ?? 0), 0),
    bitmapIndexes: nodes.filter((node) => node['Node Type'] === 'Bitmap Index Scan').map((node) => node['Index Name'] ?? '?'),
  };
}

describe('the PostgreSQL claim after a long history', () => {
  it(`visits the ${history} finished tasks' dead versions once, at the first claim, and only live rows from then on`, async () => {
    await queue(5, 1);
    const first = await explainedClaim(5);
    expect(first.claimed).toBe(5);
    // The first claim's index scans meet every dead queued and running version once and mark it.
    expect(first.heapFetches).toBeGreaterThanOrEqual(history);

    for (const from of [100, 200]) {
      await queue(5, from);
      const next = await explainedClaim(5);
      expect(next.claimed).toBe(5);
      // The five new rows (read by a few of the claim's lookups) and the running ones: 18 here. The
      // bitmap scan over the status index visited the table page of each of the 8,000 dead versions.
      expect(next.heapFetches).toBeLessThan(50);
      // A bitmap only over the primary key (the picked ids), never over all the queued or running versions.
      expect(next.bitmapIndexes.every((index) => index === 'tasks_pkey')).toBe(true);
    }
  });

  it('passes over a task another claim holds locked and takes the next one, instead of coming back empty', async () => {
    await queue(2, 300);
    // Another process's claim has the older task locked and has not committed yet.
    const other = new pg.Client({ connectionString: testPostgresServer });
    await other.connect();
    try {
      await other.query(`SET search_path TO "${schema.schema}"`);
      await other.query('BEGIN');
      await other.query("SELECT id FROM tasks WHERE id = 'task_new_000300' FOR UPDATE");
      const claimed = await stores.tasks.claimBatch('worker_racing', 2_000_000, 2_060_000, 1, { fairness: { recentlyServedKeys: [] } });
      expect(claimed.map((task) => task.id)).toEqual(['task_new_000301']);
    } finally {
      await other.query('ROLLBACK');
      await other.end();
    }
    const [held] = (await client.query<{ status: string }>("SELECT status FROM tasks WHERE id = 'task_new_000300'")).rows;
    expect(held?.status).toBe('queued');
  });

  it('takes the claimed tasks for the worker, as the store does', async () => {
    const taken = await client.query<{ status: string; lease_owner: string }>("SELECT status, lease_owner FROM tasks WHERE id LIKE 'task_new_%' AND id < 'task_new_000300'");
    expect(taken.rows).toHaveLength(15);
    expect(taken.rows.every((row) => row.status === 'in_progress' && row.lease_owner === 'worker_now')).toBe(true);
  });
});
