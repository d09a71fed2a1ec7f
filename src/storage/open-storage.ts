// The one place that opens "the storage" from the configuration: the database (the embedded SQLite
// file in the data dir) and the blob store, returning every store behind its port.

import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/ports/clock.js';
import { LocalBlobStore } from './blob/local/local-blob-store.js';
import { openSqliteStorage } from './sqlite/sqlite-storage.js';
import type { Storage } from './storage.js';

export interface StorageSettings {
  dataDir: string;
  fsyncBlobs: boolean;
}

export async function openStorage(settings: StorageSettings, deps: { clock: Clock; logger: Logger }): Promise<Storage> {
  const dataDir = resolve(settings.dataDir);
  const database = await openSqliteStorage({ file: join(dataDir, 'imagegate.sqlite'), ...deps });
  const blobs = new LocalBlobStore({ directory: join(dataDir, 'blobs'), fsync: settings.fsyncBlobs });
  return {
    ...database,
    blobs,
    ping: async () => {
      await database.ping();
      await blobs.ping();
    },
    close: () => database.close(),
  };
}
