// Several connections and processes sharing one SQLite file: no task is handed out twice, no migration runs twice.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTask } from '../../testing/conformance/task-store.conformance.js';
import { openSqliteDatabase, type SqliteDatabase } from './database.js';
import { loadMigrations, migrate } from './migrate.js';
import type { RaceWorkerCommand, RaceWorkerReport } from './race-worker.fixture.js';
import { SqliteTaskStore } from './task-store.js';

const workerScript = fileURLToPath(new URL('./race-worker.fixture.ts', import.meta.url));

/** A child process with its own connection; `order` sends one command to it and resolves with its report. */
interface RaceWorker {
  child: ChildProcess;
  order(command: Exclude<RaceWorkerCommand, 'exit'>): Promise<RaceWorkerReport>;
}

function startWorker(file: string, owner: string, migrationsDirectory?: URL): Promise<RaceWorker> {
  const child = fork(workerScript, [file, owner, ...(migrationsDirectory === undefined ? [] : [migrationsDirectory.href])], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  let pending: { resolve(report: RaceWorkerReport): void; reject(error: Error): void } | undefined;
  const worker: RaceWorker = {
    child,
    order: (command) =>
      new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send(command);
      }),
  };
  return new Promise((resolve, reject) => {
    pending = { resolve: () => resolve(worker), reject };
    child.on('message', (message: RaceWorkerReport) => {
      const waiting = pending;
      pending = undefined;
      waiting?.resolve(message);
    });
    child.on('exit', (code) => pending?.reject(new Error(`worker ${owner} exited with ${code}`)));
  });
}

function stopWorker(worker: RaceWorker): Promise<void> {
  if (worker.child.exitCode !== null || worker.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    worker.child.once('exit', () => resolve());
    worker.child.send('exit');
  });
}

describe('SQLite shared by several connections', () => {
  let folder: string;
  let file: string;
  const opened: SqliteDatabase[] = [];
  const open = () => {
    const database = openSqliteDatabase({ file });
    opened.push(database);
    return database;
  };

  beforeEach(async () => {
    folder = await mkdtemp(join(tmpdir(), 'imagegate-race-'));
    file = join(folder, 'imagegate.db');
  });

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((database) => database.close()));
    await rm(folder, { recursive: true, force: true });
  });

  it('migrate applies each migration once, however often and from however many connections it runs', async () => {
    const known = await loadMigrations();
    expect(known.map((migration) => migration.version)).toContain(1);
    const first = open();
    const second = open();

    expect((await migrate(first.db)).applied.map((migration) => migration.version)).toStrictEqual(known.map((migration) => migration.version));
    expect((await migrate(first.db)).applied).toStrictEqual([]);
    expect((await migrate(second.db)).applied).toStrictEqual([]);

    const recorded = await second.db.selectFrom('schema_migrations').select(['version', 'name']).orderBy('version').execute();
    expect(recorded).toStrictEqual(known.map((migration) => ({ version: migration.version, name: migration.name })));
  });

  it('two connections claiming concurrently never get the same task', async () => {
    const setup = open();
    await migrate(setup.db);
    const seed = new SqliteTaskStore(setup);
    for (let index = 0; index < 40; index += 1) await seed.create(makeTask(`shared_${index}`, { createdAt: 1_700_000_000_000 + index }));

    const stores = [new SqliteTaskStore(open()), new SqliteTaskStore(open())];
    const now = Date.now();
    const claims = await Promise.all(
      Array.from({ length: 60 }, (_, index) => stores[index % 2]?.claim(`connection-${index % 2}-${index}`, now, now + 60_000)),
    );
    const ids = claims.filter((task) => task !== undefined).map((task) => task.id);
    expect(ids).toHaveLength(40);
    expect(new Set(ids).size).toBe(40);
  });

  it('separate processes on a fresh file migrate it once between them, then claim every task exactly once', async () => {
    const workers = await Promise.all([0, 1].map((index) => startWorker(file, `process-${index}`)));
    try {
      // Both were ready before either was told to start, so their migrations and claims really overlap.
      const migrated = await Promise.all(workers.map((worker) => worker.order('migrate')));
      const versions = migrated.flatMap((report) => {
        if (report.kind !== 'migrated') throw new Error(`worker did not migrate: ${JSON.stringify(report)}`);
        return report.versions;
      });
      const known = (await loadMigrations()).map((migration) => migration.version);
      expect(versions.sort((left, right) => left - right)).toStrictEqual(known);

      const setup = open();
      const recorded = await setup.db.selectFrom('schema_migrations').select('version').orderBy('version').execute();
      expect(recorded.map((row) => row.version)).toStrictEqual(known);

      const seed = new SqliteTaskStore(setup);
      const taskCount = 600;
      for (let index = 0; index < taskCount; index += 1) await seed.create(makeTask(`process_${index}`, { createdAt: 1_700_000_000_000 + index }));

      const claimed = await Promise.all(workers.map((worker) => worker.order('claim')));
      const ids = claimed.flatMap((report) => {
        if (report.kind !== 'claimed') throw new Error(`worker did not claim: ${JSON.stringify(report)}`);
        return report.ids;
      });
      expect(ids).toHaveLength(taskCount);
      expect(new Set(ids).size).toBe(taskCount);
      const tasks = await Promise.all(ids.map((id) => seed.get(id)));
      expect(tasks.every((task) => task?.status === 'in_progress' && task.attempts === 1)).toBe(true);
    } finally {
      await Promise.all(workers.map(stopWorker));
    }
  });

  it('processes finding the same pending migrations on an existing database both start, and each applies once', async () => {
    const directory = join(folder, 'migrations');
    await mkdir(directory);
    const directoryUrl = pathToFileURL(`${directory}/`);
    await writeFile(join(directory, '001_numbers.sql'), 'CREATE TABLE numbers (value INTEGER NOT NULL);');
    const setup = open();
    await migrate(setup.db, { directory: directoryUrl });

    // A migration that holds the write lock for a while, so the other process arrives while it runs.
    await writeFile(
      join(directory, '002_fill.sql'),
      'WITH RECURSIVE counter(value) AS (SELECT 1 UNION ALL SELECT value + 1 FROM counter WHERE value < 300000) INSERT INTO numbers SELECT value FROM counter;',
    );
    await writeFile(join(directory, '003_index.sql'), 'CREATE INDEX numbers_value ON numbers (value);');
    const workers = await Promise.all([0, 1].map((index) => startWorker(file, `process-${index}`, directoryUrl)));
    try {
      const reports = await Promise.all(workers.map((worker) => worker.order('migrate')));
      const versions = reports.flatMap((report) => {
        if (report.kind !== 'migrated') throw new Error(`worker did not migrate: ${JSON.stringify(report)}`);
        return report.versions;
      });
      expect(versions.sort((left, right) => left - right)).toStrictEqual([2, 3]);
      const count = await sql<{ count: number }>`SELECT count(*) AS count FROM numbers`.execute(setup.db);
      expect(count.rows[0]?.count).toBe(300_000);
    } finally {
      await Promise.all(workers.map(stopWorker));
    }
  });
});
