// The connection's lock, shared by Kysely and the group commit: a group-commit read or batch never runs
// inside a Kysely transaction that is awaiting (it would see, or commit, that transaction's writes), and
// runs at once when nothing holds the connection.

import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionLock } from './connection-lock.js';
import { openSqliteDatabase, type SqliteDatabase } from './database.js';
import { GroupCommit } from './group-commit.js';

describe('ConnectionLock', () => {
  it('runs the work at once when free, and in arrival order behind a holder', async () => {
    const lock = new ConnectionLock();
    const order: string[] = [];
    expect(lock.runExclusive(() => order.push('free'))).toBeUndefined();
    expect(order).toEqual(['free']);

    await lock.acquire();
    const first = lock.runExclusive(() => order.push('first'));
    const second = lock.runExclusive(() => order.push('second'));
    expect(first).toBeInstanceOf(Promise);
    await Promise.resolve();
    expect(order).toEqual(['free']);
    lock.release();
    await Promise.all([first, second]);
    expect(order).toEqual(['free', 'first', 'second']);
    // Given back after each: free again.
    expect(lock.runExclusive(() => order.push('again'))).toBeUndefined();
  });

  it('is released when the work throws', () => {
    const lock = new ConnectionLock();
    expect(() =>
      lock.runExclusive(() => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(lock.runExclusive(() => undefined)).toBeUndefined();
  });
});

describe('the group commit beside a Kysely transaction on the same connection', () => {
  let database: SqliteDatabase;

  beforeEach(() => {
    database = openSqliteDatabase({ file: ':memory:' });
    database.native.exec('CREATE TABLE charges (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)');
  });
  afterEach(async () => database.close());

  const count = () => (database.native.prepare('SELECT COUNT(*) AS n FROM charges').get() as { n: number }).n;

  /** A Kysely transaction that has written a row and now awaits until let go, then rolls back. */
  async function transactionHeldOpen(): Promise<{ letGo: () => void; ended: Promise<unknown> }> {
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => (letGo = resolve));
    let inside!: () => void;
    const entered = new Promise<void>((resolve) => (inside = resolve));
    const ended = database.db
      .transaction()
      .execute(async (trx) => {
        await sql`INSERT INTO charges (amount) VALUES (5)`.execute(trx);
        inside();
        await gate;
        throw new Error('rolled back on purpose');
      })
      .catch((error: unknown) => error);
    await entered;
    return { letGo, ended };
  }

  it('reads only after the transaction ends, so it never sees its uncommitted rows', async () => {
    const batches = GroupCommit.forDatabase(database);
    const transaction = await transactionHeldOpen();
    let seen: number | undefined;
    const read = batches.read(count).then((value) => (seen = value));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toBeUndefined();
    transaction.letGo();
    expect(await transaction.ended).toBeInstanceOf(Error);
    await read;
    expect(seen).toBe(0);
  });

  it("commits a batch after the transaction, not inside it (the transaction's rollback keeps the batch's row)", async () => {
    const batches = GroupCommit.forDatabase(database);
    const transaction = await transactionHeldOpen();
    let committed = false;
    const batch = batches.run(() => database.native.prepare('INSERT INTO charges (amount) VALUES (7)').run().changes).then(() => (committed = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(committed).toBe(false);
    transaction.letGo();
    expect(await transaction.ended).toBeInstanceOf(Error);
    await batch;
    expect(database.native.prepare('SELECT amount FROM charges').all()).toEqual([{ amount: 7 }]);
  });

  it('lets Kysely wait for a batch in turn, and both go through', async () => {
    const batches = GroupCommit.forDatabase(database);
    const batch = batches.run(() => database.native.prepare('INSERT INTO charges (amount) VALUES (1)').run().changes);
    const viaKysely = sql`INSERT INTO charges (amount) VALUES (2)`.execute(database.db);
    await Promise.all([batch, viaKysely]);
    expect(count()).toBe(2);
  });
});
