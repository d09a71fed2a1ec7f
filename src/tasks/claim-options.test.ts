// ClaimOptions on the SQLite task store: channels at their limit are skipped, and keys take turns.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTask } from '../testing/conformance/task-store.conformance.js';
import { openSqliteDatabase, type SqliteDatabase } from '../storage/sqlite/database.js';
import { migrate } from '../storage/sqlite/migrate.js';
import { SqliteTaskStore } from '../storage/sqlite/task-store.js';

const base = 1_700_000_000_000;
let folder: string;
let database: SqliteDatabase;
let store: SqliteTaskStore;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-claim-'));
  database = openSqliteDatabase({ file: join(folder, 'imagegate.db') });
  await migrate(database.db);
  store = new SqliteTaskStore(database);
});

afterEach(async () => {
  await database.close();
  await rm(folder, { recursive: true, force: true });
});

describe('claim options', () => {
  it('skips tasks of excluded models and takes the oldest of the rest', async () => {
    await store.create(makeTask('flux', { model: 'flux-1.1-pro', createdAt: base }));
    await store.create(makeTask('gpt', { model: 'gpt-image-1', createdAt: base + 1 }));
    const claimed = await store.claim('w', base + 10, base + 1000, { excludeModels: ['flux-1.1-pro'] });
    expect(claimed?.id).toBe('task_gpt');
    expect(await store.claim('w', base + 10, base + 1000, { excludeModels: ['flux-1.1-pro'] })).toBeUndefined();
    expect((await store.claim('w', base + 10, base + 1000))?.id).toBe('task_flux');
  });

  it('serves the key with fewer running tasks first, whatever the age of its tasks', async () => {
    await store.create(makeTask('a1', { keyId: 'key_a', createdAt: base }));
    await store.create(makeTask('a2', { keyId: 'key_a', createdAt: base + 1 }));
    await store.create(makeTask('b1', { keyId: 'key_b', createdAt: base + 2 }));
    const fair = { fairness: { recentlyServedKeys: [] } };
    expect((await store.claim('w', base + 10, base + 1000, fair))?.id).toBe('task_a1');
    // key_a has one running now; key_b none: b1 goes before the older a2.
    expect((await store.claim('w', base + 10, base + 1000, fair))?.id).toBe('task_b1');
    expect((await store.claim('w', base + 10, base + 1000, fair))?.id).toBe('task_a2');
  });

  it('alternates keys by when they were last served, so one worker interleaves a backlog with a newcomer', async () => {
    for (let index = 0; index < 4; index += 1) await store.create(makeTask(`a${index}`, { keyId: 'key_a', createdAt: base + index }));
    await store.create(makeTask('b0', { keyId: 'key_b', createdAt: base + 10 }));
    await store.create(makeTask('b1', { keyId: 'key_b', createdAt: base + 11 }));
    const served: string[] = [];
    const order: string[] = [];
    for (let index = 0; index < 6; index += 1) {
      const now = base + 100 + index;
      const task = await store.claim('w', now, now + 1000, { fairness: { recentlyServedKeys: [...served] } });
      if (!task) break;
      order.push(task.id);
      // One worker: the task finishes before the next claim.
      await store.update(task.id, 'w', { status: 'succeeded', completedAt: now });
      const at = served.indexOf(task.keyId);
      if (at !== -1) served.splice(at, 1);
      served.push(task.keyId);
    }
    expect(order).toEqual(['task_a0', 'task_b0', 'task_a1', 'task_b1', 'task_a2', 'task_a3']);
  });
});
