// Durability across a crash: a gateway running as a child process against a slow BFL fake is killed
// with SIGKILL mid-way through 50 tasks and started again on the same data dir. Every task
// succeeds, the upstream saw exactly 50 submissions (running jobs were resumed, not resubmitted),
// and each task was reserved and settled once.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { apiKey, kill9, quiesceSubmissions, startChild, stop, useDurabilityRig, waitForAll, writeBflConfig } from './child-gateway.js';
import { call, queryDatabase, sleep } from './task-helpers.js';

const rig = useDurabilityRig('imagegate-restart-');

describe('a gateway killed with SIGKILL', () => {
  // Two child-process starts dominate the time; a loaded machine makes them slow, hence the room.
  it('finishes all 50 tasks after a restart, with 50 upstream submissions and one charge each', { timeout: 90_000 }, async () => {
    const { fake, gate, folder } = rig;
    const dataDir = join(folder, 'restart');
    const config = await writeBflConfig(folder, 'restart', gate.url, 10);
    let gateway = await startChild(dataDir, config);

    const submitted = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        call(gateway.url, '/v1/images/generations?async=true', { key: apiKey, json: { model: 'flux-1.1-pro', prompt: `durable ${index}`, size: '1024x1024' } }),
      ),
    );
    expect(submitted.map((response) => response.status)).toEqual(Array(50).fill(202));
    const ids = submitted.map((response) => response.body.id as string);

    // Mid-way: some jobs accepted upstream and still running, others not yet submitted.
    for (let tries = 0; fake.submissions < 12; tries += 1) {
      if (tries > 1000) throw new Error(`only ${fake.submissions} submissions:\n${gateway.output.join('').slice(-3000)}`);
      await sleep(20);
    }
    await quiesceSubmissions(gate, fake, dataDir);
    const before = queryDatabase<{ status: string; has_job: number }>(dataDir, 'SELECT status, upstream_job IS NOT NULL AS has_job FROM tasks');
    await kill9(gateway);
    await gate.resume();
    const runningWithJob = before.filter((row) => row.status === 'in_progress' && row.has_job === 1).length;
    expect(runningWithJob).toBeGreaterThan(0);
    expect(before.filter((row) => row.status === 'queued').length).toBeGreaterThan(0);

    gateway = await startChild(dataDir, config);
    const tasks = await waitForAll(gateway.url, ids, 40_000);
    expect(tasks.map((task) => task.status)).toEqual(Array(50).fill('succeeded'));
    expect(fake.submissions).toBe(50);

    // The tasks running at the kill were claimed again and resumed.
    const resumed = queryDatabase<{ n: number }>(dataDir, 'SELECT COUNT(*) AS n FROM tasks WHERE attempts >= 2')[0]?.n ?? 0;
    expect(resumed).toBeGreaterThanOrEqual(runningWithJob);
    // One reservation per task, settled; one usage row per task.
    const reservations = queryDatabase<{ id: string; status: string }>(dataDir, 'SELECT id, status FROM billing_reservations');
    expect(reservations.map((row) => row.id).sort()).toEqual([...ids].sort());
    expect(reservations.every((row) => row.status === 'settled')).toBe(true);
    const usage = queryDatabase<{ reservation_id: string; images_delivered: number }>(dataDir, 'SELECT reservation_id, images_delivered FROM billing_usage');
    expect(usage.map((row) => row.reservation_id).sort()).toEqual([...ids].sort());
    expect(usage.every((row) => row.images_delivered === 1)).toBe(true);
    await stop(gateway);
  });
});
