// Two gateway processes sharing one data dir: tasks held by the one killed with SIGKILL are taken
// over by the other once their lease expires, resumed from their recorded upstream jobs.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiKey, kill9, quiesceSubmissions, startChild, stop, useDurabilityRig, waitForAll, writeBflConfig } from './child-gateway.js';
import { call, queryDatabase, sleep } from './task-helpers.js';

const rig = useDurabilityRig('imagegate-shared-');

describe('two processes on one data dir', () => {
  it('finishes the tasks the killed process held', { timeout: 90_000 }, async () => {
    const { fake, gate, folder } = rig;
    const dataDir = join(folder, 'shared');
    const config = await writeBflConfig(folder, 'shared', gate.url, 4);
    const first = await startChild(dataDir, config);
    const second = await startChild(dataDir, config);

    const submitted = await Promise.all(
      Array.from({ length: 16 }, (_, index) => call(first.url, '/v1/images/generations?async=true', { key: apiKey, json: { model: 'flux-1.1-pro', prompt: `shared ${index}` } })),
    );
    const ids = submitted.map((response) => response.body.id as string);
    const heldByFirst = () =>
      queryDatabase<{ id: string }>(dataDir, "SELECT id FROM tasks WHERE status = 'in_progress' AND upstream_job IS NOT NULL AND lease_owner LIKE ?", `%:${first.pid}:%`);
    for (let tries = 0; tries < 1000 && heldByFirst().length === 0; tries += 1) await sleep(20);
    await quiesceSubmissions(gate, fake, dataDir);
    const orphaned = heldByFirst().map((row) => row.id);
    expect(orphaned.length).toBeGreaterThan(0);
    await kill9(first);
    await gate.resume();

    const tasks = await waitForAll(second.url, ids, 40_000);
    expect(tasks.map((task) => task.status)).toEqual(Array(16).fill('succeeded'));
    expect(fake.submissions).toBe(16);
    const owners = queryDatabase<{ lease_owner: string; attempts: number }>(
      dataDir,
      `SELECT lease_owner, attempts FROM tasks WHERE id IN (${orphaned.map(() => '?').join(',')})`,
      ...orphaned,
    );
    for (const row of owners) {
      expect(row.lease_owner).toContain(`:${second.pid}:`);
      expect(row.attempts).toBe(2);
    }
    const settled = queryDatabase<{ n: number }>(dataDir, "SELECT COUNT(*) AS n FROM billing_reservations WHERE status = 'settled'")[0]?.n;
    expect(settled).toBe(16);
    await stop(second);
  });
});
