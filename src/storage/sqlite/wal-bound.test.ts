// Issue 15, target 3: under sustained writes the background checkpointer keeps the -wal file bounded
// (passive checkpoints alone never finish while writes keep coming, and the file grew without end),
// and once writes stop it truncates the file to nothing.

import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { openSqliteDatabase, type SqliteDatabase } from './database.js';

const megabyte = 1024 * 1024;
let folder: string | undefined;
let opened: SqliteDatabase | undefined;

afterEach(async () => {
  await opened?.close();
  if (folder) await rm(folder, { recursive: true, force: true });
});

const walBytes = (file: string): number => {
  try {
    return statSync(`${file}-wal`).size;
  } catch {
    return 0;
  }
};

it('keeps the WAL near its bound while 48 MB are written, and truncates it once idle', { timeout: 60_000 }, async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-wal-'));
  const file = join(folder, 'wal.sqlite');
  opened = openSqliteDatabase({ file, backgroundCheckpoints: true, walBounds: { restartAboveBytes: 2 * megabyte } });
  const native = opened.native;
  native.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
  const insert = native.prepare('INSERT INTO rows (body) VALUES (?)');
  const body = randomBytes(4096);

  let largest = 0;
  // 12,000 commits of 4 KB each: without the bound the WAL would end above 48 MB.
  for (let index = 0; index < 12_000; index += 1) {
    insert.run(body);
    if (index % 25 === 0) {
      largest = Math.max(largest, walBytes(file));
      // Commits in batches with other work between them, as the gateway's group commits are: the
      // checkpointer needs the write lock free now and then (a writer that never lets go starves it).
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  }
  expect(Number(native.prepare('SELECT COUNT(*) AS n FROM rows').pluck().get())).toBe(12_000);
  expect(largest).toBeGreaterThan(0);
  // Unbounded it ends near 48 MB; bounded it stays within a few rounds' writes of its 2 MB limit.
  expect(largest).toBeLessThan(32 * megabyte);

  // Idle: the checkpointer truncates the file (waited for, not timed).
  for (let rounds = 0; walBytes(file) > 0; rounds += 1) {
    if (rounds > 400) throw new Error(`the WAL is still ${walBytes(file)} bytes long after the writes stopped`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(walBytes(file)).toBe(0);
});
