// The behaviour every TaskStore (SQLite, Postgres, Redis …) must show; each implementation's test file runs it.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskRecord, TaskStore } from '../../core/ports/task-store.js';

export interface TaskStoreUnderTest {
  store: TaskStore;
  cleanup(): Promise<void>;
}

const baseTime = 1_700_000_000_000;
const leaseMs = 30_000;

export function makeTask(suffix: string, overrides: Partial<TaskRecord> = {}): TaskRecord {
  return {
    id: `task_${suffix}`,
    keyId: 'key_a',
    operation: 'generate',
    model: 'gpt-image-1',
    status: 'queued',
    progress: 0,
    request: { prompt: `a lighthouse ${suffix}`, n: 1, size: '1024x1024', images: [] },
    result: null,
    error: null,
    upstreamJob: null,
    leaseOwner: null,
    leaseExpiresAt: null,
    attempts: 0,
    createdAt: baseTime,
    startedAt: null,
    completedAt: null,
    ...overrides,
  };
}

export function describeTaskStoreConformance(name: string, create: () => Promise<TaskStoreUnderTest>): void {
  describe(`TaskStore conformance: ${name}`, () => {
    let subject: TaskStoreUnderTest;
    let store: TaskStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('returns a created task with every field intact, and undefined for an unknown id', async () => {
      const task = makeTask('full', {
        operation: 'edit',
        request: { prompt: 'add a hat', images: ['uploads/2026/11/21/a.png'], nested: { quality: 'high' } },
        upstreamJob: { provider: 'bfl', data: { id: 'job-1', pollingUrl: 'https://example.test/poll' } },
      });
      await store.create(task);
      expect(await store.get(task.id)).toStrictEqual(task);
      expect(await store.get('task_missing')).toBeUndefined();
    });

    it('claims the oldest queued task first and marks it in progress for the owner', async () => {
      await store.create(makeTask('newer', { createdAt: baseTime + 2000 }));
      await store.create(makeTask('oldest', { createdAt: baseTime }));
      await store.create(makeTask('middle', { createdAt: baseTime + 1000 }));
      const now = baseTime + 10_000;

      const first = await store.claim('worker-1', now, now + leaseMs);
      expect(first).toMatchObject({
        id: 'task_oldest',
        status: 'in_progress',
        leaseOwner: 'worker-1',
        leaseExpiresAt: now + leaseMs,
        attempts: 1,
        startedAt: now,
      });
      expect(await store.get('task_oldest')).toStrictEqual(first);
      expect((await store.claim('worker-1', now, now + leaseMs))?.id).toBe('task_middle');
      expect((await store.claim('worker-2', now, now + leaseMs))?.id).toBe('task_newer');
      expect(await store.claim('worker-2', now, now + leaseMs)).toBeUndefined();
    });

    it('claims a batch in the order single claims would take it: fairly between keys, expired leases included, no more than the limit', async () => {
      // key_a has a backlog and one task whose worker died; key_b one newer task; key_c one task of an excluded model.
      for (let index = 0; index < 4; index += 1) await store.create(makeTask(`a${index}`, { keyId: 'key_a', createdAt: baseTime + index }));
      await store.create(makeTask('b0', { keyId: 'key_b', createdAt: baseTime + 10 }));
      await store.create(makeTask('c0', { keyId: 'key_c', model: 'flux-1.1-pro', createdAt: baseTime - 5 }));
      await store.create(makeTask('orphan', { keyId: 'key_a', createdAt: baseTime - 10 }));
      await store.claim('dead-worker', baseTime, baseTime + leaseMs, { excludeModels: ['flux-1.1-pro'] });
      const now = baseTime + leaseMs;
      const options = { excludeModels: ['flux-1.1-pro'], fairness: { recentlyServedKeys: ['key_b'] } };

      const batch = await store.claimBatch('worker-1', now, now + leaseMs, 4, options);
      // key_a (not served lately) first, its oldest being the orphan; then key_b (one fewer running
      // than key_a); then key_a twice, key_b having nothing left; c0 is never taken.
      expect(batch.map((task) => task.id)).toEqual(['task_orphan', 'task_b0', 'task_a0', 'task_a1']);
      expect(batch.map((task) => [task.status, task.leaseOwner, task.leaseExpiresAt])).toEqual(Array.from({ length: 4 }, () => ['in_progress', 'worker-1', now + leaseMs]));
      expect(batch[0]?.attempts).toBe(2);
      expect(await store.get('task_b0')).toStrictEqual(batch[1]);

      expect((await store.claimBatch('worker-2', now, now + leaseMs, 10, { excludeModels: ['flux-1.1-pro'] })).map((task) => task.id)).toEqual(['task_a2', 'task_a3']);
      expect(await store.claimBatch('worker-2', now, now + leaseMs, 10, { excludeModels: ['flux-1.1-pro'] })).toEqual([]);
      expect((await store.claimBatch('worker-2', now, now + leaseMs, 10)).map((task) => task.id)).toEqual(['task_c0']);
    });

    it('claims a batch in the order single claims would, for many mixes of keys, running tasks, expired leases and recent service', async () => {
      // A small deterministic generator (seeded), so a failure names a reproducible scenario.
      let seed = 7;
      const random = (below: number): number => {
        seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
        return seed % below;
      };
      const now = baseTime + 100 * leaseMs;
      for (let scenario = 0; scenario < 6; scenario += 1) {
        const keys = Array.from({ length: 2 + random(4) }, (_, index) => `key_${scenario}_${index}`);
        const candidates: Array<{ id: string; keyId: string; createdAt: number }> = [];
        const running = new Map<string, number>();
        for (const keyId of keys) {
          running.set(keyId, random(3));
          for (let index = 0; index < (running.get(keyId) ?? 0); index += 1) {
            // Running elsewhere: in progress under a lease that has not expired.
            await store.create(makeTask(`${keyId}_run${index}`, { keyId, status: 'in_progress', leaseOwner: 'elsewhere', leaseExpiresAt: now + leaseMs, attempts: 1 }));
          }
          const claimable = random(5);
          for (let index = 0; index < claimable; index += 1) {
            const id = `${keyId}_t${index}`;
            // Created at a few shared instants, so ties on time fall to the id.
            const createdAt = baseTime + random(4) * 1000;
            const expired = random(4) === 0;
            await store.create(makeTask(id, expired ? { keyId, createdAt, status: 'in_progress', leaseOwner: 'dead', leaseExpiresAt: now - 1, attempts: 1 } : { keyId, createdAt }));
            candidates.push({ id: `task_${id}`, keyId, createdAt });
          }
        }
        const served = keys.filter(() => random(2) === 0).sort(() => random(3) - 1);

        // What successive single claims take: fewest running, then least recently served (never first), then the oldest task.
        const servedRank = new Map(served.map((keyId, index) => [keyId, index + 1]));
        let lastRank = served.length;
        const left = [...candidates].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : 1));
        const expected: string[] = [];
        while (left.length > 0) {
          const rank = (task: (typeof left)[number]) => [running.get(task.keyId) ?? 0, servedRank.get(task.keyId) ?? 0];
          let best = 0;
          for (let index = 1; index < left.length; index += 1) {
            const [aRunning, aServed] = rank(left[index]!);
            const [bRunning, bServed] = rank(left[best]!);
            if (aRunning! < bRunning! || (aRunning === bRunning && aServed! < bServed!)) best = index;
          }
          const [taken] = left.splice(best, 1);
          expected.push(taken!.id);
          running.set(taken!.keyId, (running.get(taken!.keyId) ?? 0) + 1);
          lastRank += 1;
          servedRank.set(taken!.keyId, lastRank);
        }

        const scenarioKeys = new Set(keys);
        const batch = await store.claimBatch(`worker-${scenario}`, now, now + leaseMs, 100, { fairness: { recentlyServedKeys: served } });
        expect({ scenario, ids: batch.map((task) => task.id) }).toStrictEqual({ scenario, ids: expected });
        expect(batch.every((task) => scenarioKeys.has(task.keyId))).toBe(true);
      }
    });

    it('answers undefined when there is nothing to claim', async () => {
      expect(await store.claim('worker-1', baseTime, baseTime + leaseMs)).toBeUndefined();
      await store.create(makeTask('done', { status: 'succeeded', completedAt: baseTime }));
      await store.create(makeTask('canceled', { status: 'canceled', completedAt: baseTime }));
      expect(await store.claim('worker-1', baseTime, baseTime + leaseMs)).toBeUndefined();
    });

    it('treats a lease as expired at its expiry instant: held while now < expires, taken over when now >= expires', async () => {
      await store.create(makeTask('instant'));
      const claimedAt = baseTime + 1000;
      await store.claim('worker-1', claimedAt, claimedAt + leaseMs);
      expect(await store.claim('worker-2', claimedAt + leaseMs - 1, claimedAt + 2 * leaseMs)).toBeUndefined();
      expect(await store.claim('worker-2', claimedAt + leaseMs, claimedAt + 2 * leaseMs)).toMatchObject({ id: 'task_instant', leaseOwner: 'worker-2', attempts: 2 });
    });

    it('does not hand out a claimed task again until its lease expires, then does (attempt 2)', async () => {
      await store.create(makeTask('leased'));
      const claimedAt = baseTime + 1000;
      await store.claim('worker-1', claimedAt, claimedAt + leaseMs);

      expect(await store.claim('worker-2', claimedAt + 1000, claimedAt + 1000 + leaseMs)).toBeUndefined();
      expect(await store.claim('worker-2', claimedAt + leaseMs - 1, claimedAt + 2 * leaseMs)).toBeUndefined();

      const reclaimAt = claimedAt + leaseMs + 5000;
      const reclaimed = await store.claim('worker-2', reclaimAt, reclaimAt + leaseMs);
      expect(reclaimed).toMatchObject({
        id: 'task_leased',
        status: 'in_progress',
        leaseOwner: 'worker-2',
        leaseExpiresAt: reclaimAt + leaseMs,
        attempts: 2,
        // The first start is kept: it is when the work began, not when this attempt did.
        startedAt: claimedAt,
      });
      expect(await store.heartbeat('task_leased', 'worker-1', reclaimAt + 2 * leaseMs)).toBe(false);
      expect(await store.update('task_leased', 'worker-1', { progress: 50 })).toBe(false);
      expect((await store.get('task_leased'))?.progress).toBe(0);
    });

    it('a heartbeat keeps the lease, so the task is not claimable at the old expiry', async () => {
      await store.create(makeTask('kept'));
      await store.claim('worker-1', baseTime, baseTime + leaseMs);
      expect(await store.heartbeat('task_kept', 'worker-1', baseTime + 3 * leaseMs)).toBe(true);
      expect((await store.get('task_kept'))?.leaseExpiresAt).toBe(baseTime + 3 * leaseMs);
      expect(await store.claim('worker-2', baseTime + 2 * leaseMs, baseTime + 4 * leaseMs)).toBeUndefined();
    });

    it('hands out each of 5 tasks exactly once to 20 concurrent claims', async () => {
      for (let index = 0; index < 5; index += 1) await store.create(makeTask(`concurrent_${index}`, { createdAt: baseTime + index }));
      const now = baseTime + 10_000;
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => store.claim(`worker-${index}`, now, now + leaseMs)));
      const claimed = results.filter((task): task is TaskRecord => task !== undefined);
      expect(claimed).toHaveLength(5);
      expect(new Set(claimed.map((task) => task.id)).size).toBe(5);
      for (const task of claimed) {
        expect(task.attempts).toBe(1);
        expect((await store.get(task.id))?.leaseOwner).toBe(task.leaseOwner);
      }
    });

    it('lets only the lease owner heartbeat and update', async () => {
      await store.create(makeTask('owned'));
      await store.claim('worker-1', baseTime, baseTime + leaseMs);

      expect(await store.heartbeat('task_owned', 'worker-2', baseTime + 2 * leaseMs)).toBe(false);
      expect(await store.update('task_owned', 'worker-2', { status: 'failed' })).toBe(false);
      expect(await store.heartbeat('task_missing', 'worker-1', baseTime + 2 * leaseMs)).toBe(false);
      expect(await store.update('task_missing', 'worker-1', { progress: 10 })).toBe(false);
      expect((await store.get('task_owned'))?.status).toBe('in_progress');

      const upstreamJob = { provider: 'replicate', data: { predictionId: 'p-1' } };
      expect(await store.update('task_owned', 'worker-1', { progress: 40, upstreamJob })).toBe(true);
      const result = { created: 1_700_000_100, data: [{ url: 'https://gateway.test/v1/files/images/a.png' }] };
      expect(await store.update('task_owned', 'worker-1', { status: 'succeeded', progress: 100, result, completedAt: baseTime + 5000 })).toBe(true);
      expect(await store.get('task_owned')).toMatchObject({
        status: 'succeeded',
        progress: 100,
        result,
        upstreamJob,
        error: null,
        completedAt: baseTime + 5000,
        leaseOwner: 'worker-1',
      });
      // A finished task is not claimable again, whatever its lease says.
      expect(await store.claim('worker-2', baseTime + 10 * leaseMs, baseTime + 11 * leaseMs)).toBeUndefined();
    });

    it('records a failure with its error object', async () => {
      await store.create(makeTask('fails'));
      await store.claim('worker-1', baseTime, baseTime + leaseMs);
      const error = { message: 'Upstream timed out.', type: 'server_error', param: null, code: 'upstream_timeout' };
      expect(await store.update('task_fails', 'worker-1', { status: 'failed', error, completedAt: baseTime + 1 })).toBe(true);
      expect(await store.get('task_fails')).toMatchObject({ status: 'failed', error, result: null });
    });

    it('cancels a queued or running task once; the running worker loses its lease', async () => {
      await store.create(makeTask('running', { createdAt: baseTime }));
      await store.create(makeTask('waiting', { createdAt: baseTime + 1 }));
      await store.create(makeTask('finished', { status: 'succeeded', createdAt: baseTime + 2, completedAt: baseTime + 3 }));
      expect((await store.claim('worker-1', baseTime + 10, baseTime + leaseMs))?.id).toBe('task_running');

      expect(await store.cancel('task_waiting', baseTime + 100)).toBe(true);
      expect(await store.get('task_waiting')).toMatchObject({ status: 'canceled', completedAt: baseTime + 100 });

      expect(await store.cancel('task_running', baseTime + 200)).toBe(true);
      expect(await store.get('task_running')).toMatchObject({ status: 'canceled', completedAt: baseTime + 200 });
      // The worker learns of the cancel from its next heartbeat, and cannot overwrite it with a result.
      expect(await store.heartbeat('task_running', 'worker-1', baseTime + 2 * leaseMs)).toBe(false);
      expect(await store.update('task_running', 'worker-1', { status: 'succeeded', completedAt: baseTime + 300 })).toBe(false);
      expect(await store.get('task_running')).toMatchObject({ status: 'canceled', completedAt: baseTime + 200 });

      expect(await store.cancel('task_running', baseTime + 400)).toBe(false);
      expect((await store.get('task_running'))?.completedAt).toBe(baseTime + 200);
      expect(await store.cancel('task_finished', baseTime + 400)).toBe(false);
      expect((await store.get('task_finished'))?.status).toBe('succeeded');
      expect(await store.cancel('task_missing', baseTime)).toBe(false);

      // Canceled tasks are never claimed, however much later.
      expect(await store.claim('worker-2', baseTime + 10 * leaseMs, baseTime + 11 * leaseMs)).toBeUndefined();
    });

    it("lists a key's tasks newest first, filtered by status, paged with an `after` cursor", async () => {
      for (let index = 0; index < 6; index += 1) {
        await store.create(
          makeTask(`list_${index}`, {
            createdAt: baseTime + index * 1000,
            status: index % 2 === 0 ? 'queued' : 'succeeded',
            completedAt: index % 2 === 0 ? null : baseTime + index * 1000 + 1,
          }),
        );
      }
      await store.create(makeTask('other_key', { keyId: 'key_b', createdAt: baseTime + 2500 }));
      const ids = (tasks: TaskRecord[]) => tasks.map((task) => task.id);

      expect(ids(await store.list({ keyId: 'key_a', limit: 10 }))).toStrictEqual([
        'task_list_5',
        'task_list_4',
        'task_list_3',
        'task_list_2',
        'task_list_1',
        'task_list_0',
      ]);
      expect(ids(await store.list({ keyId: 'key_b', limit: 10 }))).toStrictEqual(['task_other_key']);
      expect(ids(await store.list({ keyId: 'key_a', status: 'succeeded', limit: 10 }))).toStrictEqual(['task_list_5', 'task_list_3', 'task_list_1']);

      const firstPage = await store.list({ keyId: 'key_a', limit: 2 });
      expect(ids(firstPage)).toStrictEqual(['task_list_5', 'task_list_4']);
      const secondPage = await store.list({ keyId: 'key_a', limit: 2, after: firstPage.at(-1)?.id ?? '' });
      expect(ids(secondPage)).toStrictEqual(['task_list_3', 'task_list_2']);
      const lastPage = await store.list({ keyId: 'key_a', limit: 2, after: 'task_list_1' });
      expect(ids(lastPage)).toStrictEqual(['task_list_0']);
      expect(ids(await store.list({ keyId: 'key_a', status: 'queued', limit: 5, after: 'task_list_4' }))).toStrictEqual(['task_list_2', 'task_list_0']);
      expect(await store.list({ keyId: 'key_a', limit: 2, after: 'task_list_0' })).toStrictEqual([]);
      expect(await store.list({ keyId: 'key_nobody', limit: 10 })).toStrictEqual([]);
    });

    it('deleteOlderThan removes finished tasks created before the cutoff and keeps unfinished ones', async () => {
      await store.create(makeTask('old_succeeded', { status: 'succeeded', createdAt: baseTime, completedAt: baseTime + 1 }));
      await store.create(makeTask('old_failed', { status: 'failed', createdAt: baseTime + 1, completedAt: baseTime + 2 }));
      await store.create(makeTask('old_canceled', { status: 'canceled', createdAt: baseTime + 2, completedAt: baseTime + 3 }));
      await store.create(makeTask('old_queued', { createdAt: baseTime + 3 }));
      await store.create(makeTask('new_succeeded', { status: 'succeeded', createdAt: baseTime + 100_000, completedAt: baseTime + 100_001 }));

      expect(await store.deleteOlderThan(baseTime + 50_000)).toBe(3);
      expect(await store.get('task_old_succeeded')).toBeUndefined();
      expect(await store.get('task_old_failed')).toBeUndefined();
      expect(await store.get('task_old_canceled')).toBeUndefined();
      expect(await store.get('task_old_queued')).toBeDefined();
      expect(await store.get('task_new_succeeded')).toBeDefined();
      expect(await store.deleteOlderThan(baseTime + 50_000)).toBe(0);
    });
  });
}
