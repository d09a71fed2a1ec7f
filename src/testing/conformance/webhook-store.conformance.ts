// The behaviour every WebhookStore (SQLite, Postgres …) must show: a delivery waits for its task,
// becomes due, is claimed by one owner at a time (also when many claim at once), records attempts
// only while held, is found again after a lease expires, and is swept once finished; a client's own
// secret is stored sealed, never in clear, and a row an older version stored in clear still works.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore } from '../../core/ports/task-store.js';
import type { WebhookStore } from '../../core/ports/webhook-store.js';
import { makeTask } from './task-store.conformance.js';

export interface WebhookStoreUnderTest {
  store: WebhookStore;
  /** The task store of the same database: deliveries of finished or deleted tasks are found through it. */
  tasks: TaskStore;
  /** The `secret` column of a delivery's row as stored, and a way to write it (as an older version did). */
  rawSecret: {
    read(deliveryId: string): Promise<string | null>;
    write(deliveryId: string, stored: string): Promise<void>;
  };
  cleanup(): Promise<void>;
}

const t0 = 1_700_000_000_000;

const delivery = (suffix: string, createdAt = t0) => ({
  id: `msg_${suffix}`,
  taskId: `task_${suffix}`,
  url: `https://hooks.example.com/${suffix}`,
  secret: suffix.endsWith('own') ? 'whsec_b3duLXNlY3JldC0wMTIz' : null,
  publicBase: 'https://img.example.com',
  createdAt,
});

export function describeWebhookStoreConformance(name: string, create: () => Promise<WebhookStoreUnderTest>): void {
  describe(`WebhookStore conformance: ${name}`, () => {
    let subject: WebhookStoreUnderTest;
    let store: WebhookStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('keeps a registered delivery waiting until its task is activated, then claims it once', async () => {
      await store.register(delivery('a_own'));
      expect(await store.forTask('task_a_own')).toEqual({
        delivery: { ...delivery('a_own'), state: 'waiting', attempts: 0, nextAttemptAt: null, completedAt: null },
        attempts: [],
      });
      expect(await store.claimDue('p1', t0 + 10, t0 + 1_000)).toBeUndefined();
      expect(await store.activate('task_a_own', t0 + 5)).toBe(true);
      expect(await store.activate('task_a_own', t0 + 6)).toBe(false);
      const claimed = await store.claimDue('p1', t0 + 10, t0 + 1_000);
      expect(claimed).toMatchObject({ id: 'msg_a_own', state: 'pending', nextAttemptAt: t0 + 5 });
      expect(await store.claimDue('p2', t0 + 20, t0 + 1_000)).toBeUndefined();
    });

    it('records attempts only for the owner, and a pending retry is due again at its time', async () => {
      await store.register(delivery('b'));
      await store.activate('task_b', t0);
      await store.claimDue('p1', t0, t0 + 1_000);
      const attempt = { attempt: 1, attemptedAt: t0 + 1, statusCode: 503, error: null, durationMs: 12 };
      expect(await store.recordAttempt('msg_b', 'p2', attempt, { state: 'pending', nextAttemptAt: t0 + 5_000 })).toBe(false);
      expect(await store.recordAttempt('msg_b', 'p1', attempt, { state: 'pending', nextAttemptAt: t0 + 5_000 })).toBe(true);
      expect(await store.claimDue('p1', t0 + 4_999, t0 + 9_000)).toBeUndefined();
      expect(await store.claimDue('p2', t0 + 5_000, t0 + 9_000)).toMatchObject({ id: 'msg_b', attempts: 1 });
      const second = { attempt: 2, attemptedAt: t0 + 5_001, statusCode: 200, error: null, durationMs: 8 };
      expect(await store.recordAttempt('msg_b', 'p2', second, { state: 'delivered', completedAt: t0 + 5_002 })).toBe(true);
      const found = await store.forTask('task_b');
      expect(found?.delivery).toMatchObject({ state: 'delivered', attempts: 2, completedAt: t0 + 5_002, nextAttemptAt: null });
      expect(found?.attempts).toEqual([attempt, second]);
      expect(await store.claimDue('p3', t0 + 99_000, t0 + 100_000)).toBeUndefined();
    });

    it('lets another owner take a delivery whose lease expired (its owner died mid-attempt)', async () => {
      await store.register(delivery('c'));
      await store.activate('task_c', t0);
      expect(await store.claimDue('dead', t0, t0 + 1_000)).toBeDefined();
      expect(await store.claimDue('p2', t0 + 999, t0 + 2_000)).toBeUndefined();
      expect(await store.claimDue('p2', t0 + 1_000, t0 + 2_000)).toMatchObject({ id: 'msg_c' });
      const late = { attempt: 1, attemptedAt: t0 + 1_500, statusCode: 200, error: null, durationMs: 5 };
      expect(await store.recordAttempt('msg_c', 'dead', late, { state: 'delivered', completedAt: t0 + 1_500 })).toBe(false);
    });

    it('hands each due delivery to exactly one of many concurrent claimers', async () => {
      for (let index = 0; index < 20; index += 1) {
        await store.register(delivery(`many_${index}`));
        await store.activate(`task_many_${index}`, t0 + index);
      }
      const claimed: string[] = [];
      await Promise.all(
        Array.from({ length: 5 }, async (_, worker) => {
          for (;;) {
            const next = await store.claimDue(`w${worker}`, t0 + 100, t0 + 60_000);
            if (next === undefined) return;
            claimed.push(next.id);
          }
        }),
      );
      expect(claimed.toSorted()).toEqual(Array.from({ length: 20 }, (_, index) => `msg_many_${index}`).toSorted());
    });

    it('activates the waiting deliveries of finished tasks after a crash, and sweeps finished or orphaned ones', async () => {
      await subject.tasks.create(makeTask('done', { status: 'succeeded', completedAt: t0 }));
      await subject.tasks.create(makeTask('running', { status: 'in_progress' }));
      await store.register(delivery('done'));
      await store.register(delivery('running'));
      expect(await store.activateFinished(t0 + 10)).toBe(1);
      expect((await store.forTask('task_done'))?.delivery.state).toBe('pending');
      expect((await store.forTask('task_running'))?.delivery.state).toBe('waiting');

      await store.claimDue('p1', t0 + 10, t0 + 1_000);
      await store.recordAttempt('msg_done', 'p1', { attempt: 1, attemptedAt: t0 + 11, statusCode: 410, error: null, durationMs: 3 }, { state: 'failed', completedAt: t0 + 11 });
      await store.register(delivery('orphan'));
      await store.register(delivery('recent', t0 + 50_000));
      expect(await store.deleteOlderThan(t0 + 1)).toBe(2);
      expect(await store.forTask('task_done')).toBeUndefined();
      expect(await store.forTask('task_orphan')).toBeUndefined();
      expect((await store.forTask('task_running'))?.delivery.state).toBe('waiting');
      expect(await store.forTask('task_recent')).toBeDefined();

      await store.remove('task_running');
      expect(await store.forTask('task_running')).toBeUndefined();
    });

    it("stores a client's own secret sealed, hands it back in clear, and seals a row stored in clear", async () => {
      const own = delivery('sealed_own');
      await store.register(own);
      const stored = await subject.rawSecret.read(own.id);
      expect(stored).toMatch(/^enc:v1:[A-Za-z0-9_-]+$/);
      expect(stored).not.toContain(own.secret);
      expect((await store.forTask(own.taskId))?.delivery.secret).toBe(own.secret);
      await store.activate(own.taskId, t0);
      expect((await store.claimDue('p1', t0, t0 + 1_000))?.secret).toBe(own.secret);
      // The gateway's own secret is never stored.
      await store.register(delivery('gateway'));
      expect(await subject.rawSecret.read('msg_gateway')).toBeNull();

      // A row an older version wrote in clear is read as it is, then sealed at start.
      const legacy = delivery('legacy_own');
      await store.register(legacy);
      await subject.rawSecret.write(legacy.id, 'whsec_bGVnYWN5LXNlY3JldC0wMTIz');
      expect((await store.forTask(legacy.taskId))?.delivery.secret).toBe('whsec_bGVnYWN5LXNlY3JldC0wMTIz');
      expect(await store.sealStoredSecrets?.()).toBe(1);
      expect(await subject.rawSecret.read(legacy.id)).toMatch(/^enc:v1:/);
      expect((await store.forTask(legacy.taskId))?.delivery.secret).toBe('whsec_bGVnYWN5LXNlY3JldC0wMTIz');
      expect(await store.sealStoredSecrets?.()).toBe(0);
    });
  });
}
