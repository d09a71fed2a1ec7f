// The minimal durable relay's books keep the guarantees they stand for: a reservation debits only
// what the balance covers, a settlement charges what was delivered and refunds the rest once, and
// both are on disk (another connection sees them) when their promise resolves.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RelayLedger } from './relay-ledger.js';

let directory: string;
let ledger: RelayLedger;
let reader: Database.Database;
const balance = () => (reader.prepare("SELECT balance FROM keys WHERE id = 'bench'").get() as { balance: number }).balance;

beforeEach(async () => {
  directory = await mkdtemp(join(tmpdir(), 'relay-ledger-'));
  ledger = new RelayLedger(join(directory, 'ledger.sqlite'));
  reader = new Database(join(directory, 'ledger.sqlite'), { readonly: true });
});

afterEach(async () => {
  reader.close();
  ledger.close();
  await rm(directory, { recursive: true, force: true });
});

describe('RelayLedger', () => {
  it('holds the estimate, then charges what was delivered and refunds the rest, once', async () => {
    const start = balance();
    const [first, second] = await Promise.all([ledger.reserve('bench', 300), ledger.reserve('bench', 300)]);
    expect(balance()).toBe(start - 600);
    await Promise.all([ledger.settle(first, 1, 100), ledger.settle(second, 0, 0)]);
    await ledger.settle(first, 1, 100);
    expect(balance()).toBe(start - 100);
    expect(reader.prepare('SELECT reservation_id, images, amount FROM usage ORDER BY amount').all()).toEqual([
      { reservation_id: second, images: 0, amount: 0 },
      { reservation_id: first, images: 1, amount: 100 },
    ]);
  });

  it('refuses a reservation the balance cannot cover and writes nothing for it', async () => {
    const start = balance();
    await expect(ledger.reserve('bench', start + 1)).rejects.toThrow(/insufficient quota/);
    expect(balance()).toBe(start);
    expect(reader.prepare('SELECT count(*) AS held FROM reservations').get()).toEqual({ held: 0 });
  });
});
