// Group commit while another connection holds SQLite's write lock (another worker, a replica, the
// checkpointer): the batch waits for the lock without blocking the event loop, commits once the lock
// is free, and gives up after its bound.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { GroupCommit } from './group-commit.js';

describe('GroupCommit and a write lock held elsewhere', () => {
  let folder: string;
  let ours: Database.Database;
  let theirs: Database.Database;

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'imagegate-group-commit-'));
    const file = join(folder, 'db.sqlite');
    ours = new Database(file);
    ours.pragma('journal_mode = WAL');
    ours.pragma('busy_timeout = 5000');
    ours.exec('CREATE TABLE charges (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)');
    theirs = new Database(file);
  });

  afterEach(async () => {
    if (theirs.inTransaction) theirs.exec('ROLLBACK');
    ours.close();
    theirs.close();
    await rm(folder, { recursive: true, force: true });
  });

  const groupCommit = (lockWaitMs?: number) =>
    new GroupCommit({ native: ours, exclusive: async (critical) => critical(), ...(lockWaitMs === undefined ? {} : { lockWaitMs }) });
  const insert = (amount: number) => () => ours.prepare('INSERT INTO charges (amount) VALUES (?)').run(amount).changes;

  it('keeps serving while it waits, and commits every unit once the other connection lets go', async () => {
    theirs.exec('BEGIN IMMEDIATE');
    const batches = groupCommit();
    const settled: string[] = [];
    const first = batches.run(insert(5)).then((changes) => settled.push(`first:${changes}`));
    const second = batches.run(insert(7)).then((changes) => settled.push(`second:${changes}`));

    // The other connection lives on this same thread: had the batch waited in SQLite's busy handler,
    // this timer could not run until the busy timeout failed the batch.
    await new Promise((resolve) => setTimeout(resolve, 50));
    settled.push('timer');
    const late = batches.run(insert(11)).then((changes) => settled.push(`late:${changes}`));
    theirs.exec('COMMIT');
    await Promise.all([first, second, late]);

    expect(settled[0]).toBe('timer');
    expect(settled.slice(1).sort()).toEqual(['first:1', 'late:1', 'second:1']);
    expect(ours.prepare('SELECT amount FROM charges ORDER BY amount').all()).toEqual([{ amount: 5 }, { amount: 7 }, { amount: 11 }]);
    // The connection's own busy timeout is back for every other statement on it.
    expect(ours.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('undoes a failed unit that changed hundreds of pages, commits the rest of its batch, and leaves the connection as it was', async () => {
    ours.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)");
    const addNote = ours.prepare('INSERT INTO notes (text) VALUES (?)');
    ours.transaction(() => {
      for (let index = 0; index < 3000; index += 1) addNote.run(`note ${index} ${'x'.repeat(200)}`);
    })();
    const temporaryStore = ours.pragma('temp_store', { simple: true });
    const batches = groupCommit();
    // About 170 pages: far more than SQLite's statement journal keeps in memory on the default temp_store.
    const rewriteAllThenFail = () => {
      ours.prepare("UPDATE notes SET text = 'rewritten'").run();
      throw new Error('refused after rewriting every note');
    };
    const outcomes = await Promise.allSettled([batches.run(rewriteAllThenFail), batches.run(insert(5)), batches.run(rewriteAllThenFail), batches.run(insert(7))]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled']);
    expect(ours.prepare("SELECT count(*) AS rewritten FROM notes WHERE text = 'rewritten'").get()).toEqual({ rewritten: 0 });
    expect(ours.prepare('SELECT amount FROM charges ORDER BY amount').all()).toEqual([{ amount: 5 }, { amount: 7 }]);
    expect(ours.pragma('temp_store', { simple: true })).toBe(temporaryStore);
    expect(ours.pragma('busy_timeout', { simple: true })).toBe(5000);
  });

  it('fails the batch with SQLITE_BUSY once the lock stayed taken past the bound, and the next batch still commits', async () => {
    theirs.exec('BEGIN IMMEDIATE');
    const batches = groupCommit(100);
    await expect(batches.run(insert(5))).rejects.toMatchObject({ code: 'SQLITE_BUSY' });
    expect(ours.inTransaction).toBe(false);
    theirs.exec('COMMIT');

    await expect(batches.run(insert(9))).resolves.toBe(1);
    expect(ours.prepare('SELECT amount FROM charges').all()).toEqual([{ amount: 9 }]);
  });
});

describe('GroupCommit units with and without a savepoint', () => {
  let ours: Database.Database;

  beforeEach(() => {
    ours = new Database(':memory:');
    ours.exec('CREATE TABLE charges (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)');
  });

  afterEach(() => ours.close());

  it('undoes a failed unit with a savepoint, keeps what a failed unit without one wrote, and commits the rest of the batch', async () => {
    const batches = new GroupCommit({ native: ours, exclusive: async (critical) => critical() });
    const insert = (amount: number) => ours.prepare('INSERT INTO charges (amount) VALUES (?)').run(amount);
    const failAfter = (amount: number) => () => {
      insert(amount);
      throw new Error(`refused after ${amount}`);
    };
    // Queued in one turn: one batch, one transaction.
    const outcomes = await Promise.allSettled([
      batches.run(failAfter(1)),
      batches.run(failAfter(2), { savepoint: false }),
      batches.run(() => insert(3).changes, { savepoint: false }),
      batches.run(() => insert(4).changes),
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect(ours.prepare('SELECT amount FROM charges ORDER BY amount').all()).toEqual([{ amount: 2 }, { amount: 3 }, { amount: 4 }]);
    expect(ours.inTransaction).toBe(false);
  });

  it("runs 'refusals-first' units without a savepoint: a refusal fails its unit alone, and an unexpected error rolls the batch back and runs it again in savepoints", async () => {
    const batches = new GroupCommit({ native: ours, exclusive: async (critical) => critical() });
    const insert = (amount: number) => ours.prepare('INSERT INTO charges (amount) VALUES (?)').run(amount);
    const runs = new Map<string, number>();
    const counted = (name: string, work: () => unknown) => () => {
      runs.set(name, (runs.get(name) ?? 0) + 1);
      return work();
    };
    const refusalsFirst = { savepoint: 'refusals-first' } as const;
    const outcomes = await Promise.allSettled([
      batches.run(counted('charge 1', () => insert(1).changes), refusalsFirst),
      batches.run(counted('refused', () => {
        throw new GatewayError('insufficient_quota', 'refused before writing');
      }), refusalsFirst),
      batches.run(counted('broken', () => {
        insert(2);
        throw new Error('a defect after a write');
      }), refusalsFirst),
      batches.run(counted('charge 3', () => insert(3).changes)),
      batches.run(counted('log 4', () => insert(4).changes), { savepoint: false }),
    ]);

    expect(outcomes.map((outcome) => outcome.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled']);
    expect((outcomes[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'insufficient_quota' });
    expect((outcomes[2] as PromiseRejectedResult).reason).toMatchObject({ message: 'a defect after a write' });
    // The broken unit's write is undone; every other unit's is there once, though each ran twice.
    expect(ours.prepare('SELECT amount FROM charges ORDER BY amount').all()).toEqual([{ amount: 1 }, { amount: 3 }, { amount: 4 }]);
    expect(Object.fromEntries(runs)).toEqual({ 'charge 1': 2, refused: 2, broken: 2, 'charge 3': 1, 'log 4': 1 });
    expect(ours.inTransaction).toBe(false);
  });
});
