// A child process for the cross-process tests: opens its own connection to the file and, on each
// command from the parent, migrates or claims tasks until none is left, then reports what it got.
// Usage: fork('race-worker.fixture.ts', [databaseFile, owner, migrationsDirectoryUrl?], { execArgv: ['--import', 'tsx'] })

import { openSqliteDatabase } from './database.js';
import { migrate } from './migrate.js';
import { SqliteTaskStore } from './task-store.js';

export type RaceWorkerCommand = 'migrate' | 'claim' | 'exit';
export type RaceWorkerReport =
  | { kind: 'ready' }
  | { kind: 'migrated'; versions: number[] }
  | { kind: 'claimed'; ids: string[] }
  | { kind: 'failed'; message: string };

const [file, owner, migrationsDirectory] = process.argv.slice(2);
if (file === undefined || owner === undefined) throw new Error('usage: race-worker <database file> <owner>');
const database = openSqliteDatabase({ file });
const store = new SqliteTaskStore(database);
const send = (report: RaceWorkerReport) => new Promise<void>((resolve) => process.send?.(report, () => resolve()));

async function run(command: RaceWorkerCommand): Promise<RaceWorkerReport> {
  if (command === 'migrate') {
    const { applied } = await migrate(database.db, migrationsDirectory === undefined ? {} : { directory: new URL(migrationsDirectory) });
    return { kind: 'migrated', versions: applied.map((migration) => migration.version) };
  }
  const ids: string[] = [];
  const now = Date.now();
  for (;;) {
    const task = await store.claim(owner ?? '', now, now + 60_000);
    if (task === undefined) break;
    ids.push(task.id);
  }
  return { kind: 'claimed', ids };
}

process.on('message', (message: RaceWorkerCommand) => {
  if (message === 'exit') {
    void database.close().then(() => process.disconnect());
    return;
  }
  void run(message)
    .catch((error: unknown): RaceWorkerReport => ({ kind: 'failed', message: String(error) }))
    .then(send);
});
await send({ kind: 'ready' });
