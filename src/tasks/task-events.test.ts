// The timeline a claim writes: each claimed task's `started` event, written by the store in the claim's
// own unit of the group commit (ClaimOptions.recordStarted, which the timeline always asks for); a bare
// store's claim writes none.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from '../storage/sqlite/database.js';
import { GroupCommit } from '../storage/sqlite/group-commit.js';
import { migrate } from '../storage/sqlite/migrate.js';
import { SqliteTaskEventStore } from '../storage/sqlite/task-event-store.js';
import { SqliteTaskStore } from '../storage/sqlite/task-store.js';
import { makeTask } from '../testing/conformance/task-store.conformance.js';
import { withTaskTimeline } from './task-events.js';

const now = 1_700_000_100_000;
const clock = { now: () => now };

let database: SqliteDatabase;
let events: SqliteTaskEventStore;
let store: SqliteTaskStore;

beforeEach(async () => {
  database = openSqliteDatabase({ file: ':memory:' });
  await migrate(database.db);
  const batches = GroupCommit.forDatabase(database);
  events = new SqliteTaskEventStore(database, batches);
  store = new SqliteTaskStore(database, batches, events);
});

afterEach(async () => {
  await database.close();
});

describe('a claimed task’s started event', () => {
  it('is in the timeline of every task a batch took, with its attempt and whether it resumed a job, and only theirs', async () => {
    const errors: unknown[] = [];
    const timeline = withTaskTimeline(store, events, { clock, onError: (error) => errors.push(error) });
    await timeline.create(makeTask('fresh', { createdAt: now - 3 }));
    await timeline.create(makeTask('resumed', { createdAt: now - 2, upstreamJob: { provider: 'bfl', data: { id: 'job-1' } } }));
    await timeline.create(makeTask('later', { createdAt: now - 1 }));

    const claimed = await timeline.claimBatch('worker-1', now, now + 30_000, 2, { fairness: { recentlyServedKeys: [] } });

    expect(claimed.map((task) => task.id)).toEqual(['task_fresh', 'task_resumed']);
    expect(await events.list('task_fresh')).toEqual([
      { taskId: 'task_fresh', at: now - 3, kind: 'queued', detail: { model: 'gpt-image-1', operation: 'generate' } },
      { taskId: 'task_fresh', at: now, kind: 'started', detail: { attempt: 1, resumed: false } },
    ]);
    expect((await events.list('task_resumed')).map((event) => [event.kind, event.detail])).toEqual([
      ['queued', { model: 'gpt-image-1', operation: 'generate' }],
      ['started', { attempt: 1, resumed: true }],
    ]);
    expect((await events.list('task_later')).map((event) => event.kind)).toEqual(['queued']);
    // Nothing left to take but task_later, which a zero-length batch does not touch; an empty claim writes nothing.
    expect(await timeline.claimBatch('worker-2', now, now + 30_000, 0, {})).toEqual([]);
    expect((await events.list('task_later')).map((event) => event.kind)).toEqual(['queued']);
    expect(errors).toEqual([]);
  });

  it('is not written by a bare store’s claim, which has no timeline', async () => {
    await store.create(makeTask('bare', { createdAt: now - 1 }));
    expect((await store.claimBatch('worker-1', now, now + 30_000, 1, {})).map((task) => task.id)).toEqual(['task_bare']);
    expect(await events.list('task_bare')).toEqual([]);
  });
});
