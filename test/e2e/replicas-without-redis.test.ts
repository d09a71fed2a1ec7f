// Gateway processes on one database and nothing else: what one replica's admin API changes (a key
// revoked, a channel disabled) reaches the others within 5 s through the database's change counters
// (polled every second) — on one PostgreSQL schema, and on one SQLite data dir shared by processes on
// one machine.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { children, type ChildGateway } from './child-gateway.js';
import { disabledChannelIsHonouredEverywhere, drawingChannel, revokedKeyIsRefusedEverywhere } from './replica-checks.js';
import { postgresSchema, sqliteDataDir, startReplicas, stopReplicas, type SharedDatabase } from './replica-rig.js';

function useReplicas(label: string, count: number, databaseIn: (folder: string) => SharedDatabase): () => ChildGateway[] {
  let replicas: ChildGateway[] | undefined;
  let folder: string | undefined;
  let database: SharedDatabase | undefined;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), `imagegate-replicas-${label}-`));
    const configFile = join(folder, 'gateway.yaml');
    await writeFile(configFile, ['channels:', ...drawingChannel, ''].join('\n'));
    database = databaseIn(folder);
    replicas = await startReplicas({ database, configFile, count });
  }, 90_000);
  afterAll(async () => {
    if (replicas !== undefined) await stopReplicas(replicas);
    for (const child of children) child.kill('SIGKILL');
    await database?.drop();
    if (folder !== undefined) await rm(folder, { recursive: true, force: true });
  });
  return () => {
    if (replicas === undefined) throw new Error('the replicas did not start');
    return replicas;
  };
}

describe('three replicas on one PostgreSQL schema, without Redis', () => {
  const replicas = useReplicas('pg', 3, (folder) => postgresSchema(folder, 'replicas_noredis'));

  it('a key revoked through one replica is refused by the others within 5 s', { timeout: 30_000 }, async () => {
    await revokedKeyIsRefusedEverywhere(replicas(), 5_000);
  });

  it('a channel disabled through one replica is honoured by the others within 5 s', { timeout: 30_000 }, async () => {
    await disabledChannelIsHonouredEverywhere(replicas(), 5_000);
  });
});

describe('two processes on one SQLite data dir, without Redis', () => {
  const replicas = useReplicas('sqlite', 2, sqliteDataDir);

  it('a key revoked through one process is refused by the other within 5 s', { timeout: 30_000 }, async () => {
    await revokedKeyIsRefusedEverywhere(replicas(), 5_000);
  });

  it('a channel disabled through one process is honoured by the other within 5 s', { timeout: 30_000 }, async () => {
    await disabledChannelIsHonouredEverywhere(replicas(), 5_000);
  });
});
