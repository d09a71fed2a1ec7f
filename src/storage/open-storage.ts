// The one place that opens "the storage" from the configuration: the database named by
// `database.url` (the embedded SQLite file in the data dir by default, or PostgreSQL) and the blob
// store, returning every store behind its port.

import { isAbsolute, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../core/ports/clock.js';
import type { S3Settings } from '../config/schema.js';
import { openBlobStore } from './blob/open-blob-store.js';
import type { SecretBox } from '../secrets/secret-box.js';
import { openSqliteStorage } from './sqlite/sqlite-storage.js';
import type { DatabaseStores, Storage } from './storage.js';

export interface StorageSettings {
  /** `sqlite:<path>`, `postgres://…`, or undefined for `<data dir>/imagegate.sqlite`. */
  databaseUrl: string | undefined;
  /** Connections in the PostgreSQL pool; default 10. */
  databaseMaxConnections?: number;
  /** Named prepared statements on PostgreSQL's hot path; default true. */
  databasePreparedStatements?: boolean;
  dataDir: string;
  fsyncBlobs: boolean;
  /** Images in an S3-compatible bucket; on disk under the data dir when absent. */
  s3?: S3Settings | undefined;
}

export type DatabaseLocation = { backend: 'sqlite'; file: string } | { backend: 'postgres'; url: string; maxConnections?: number; preparedStatements?: boolean };

/** Where the database is. A relative `sqlite:` path is taken from the working directory. Throws RangeError for anything else. */
export function parseDatabaseUrl(url: string | undefined, dataDir: string): DatabaseLocation {
  if (url === undefined || url === '') return { backend: 'sqlite', file: join(resolve(dataDir), 'imagegate.sqlite') };
  if (url.startsWith('sqlite:')) {
    // sqlite:relative/path, sqlite:/absolute/path and sqlite:///absolute/path all name a file.
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '') throw new RangeError('expected a file after sqlite:, e.g. sqlite:./data/imagegate.sqlite');
    return { backend: 'sqlite', file: isAbsolute(path) ? path : resolve(path) };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url);
    } catch {
      throw new RangeError('not a valid postgres:// URL');
    }
    return { backend: 'postgres', url };
  }
  throw new RangeError('expected sqlite:<path> or postgres://user:password@host:port/database');
}

/** `secrets`: encrypts upstream API keys in the channels table and clients' webhook secrets; without it they are stored as given. */
export interface StorageDeps {
  clock: Clock;
  logger: Logger;
  secrets?: SecretBox;
}

export async function openDatabaseStores(location: DatabaseLocation, deps: StorageDeps): Promise<DatabaseStores> {
  if (location.backend === 'sqlite') return openSqliteStorage({ file: location.file, ...deps });
  // Loaded only for PostgreSQL: the embedded gateway does not carry pg and the PostgreSQL stores (~3 MB of heap).
  const { openPostgresStorage } = await import('./postgres/postgres-storage.js');
  return openPostgresStorage({
    url: location.url,
    ...(location.maxConnections === undefined ? {} : { maxConnections: location.maxConnections }),
    ...(location.preparedStatements === undefined ? {} : { preparedStatements: location.preparedStatements }),
    ...deps,
  });
}

export async function openStorage(settings: StorageSettings, deps: StorageDeps): Promise<Storage> {
  const dataDir = resolve(settings.dataDir);
  const location = parseDatabaseUrl(settings.databaseUrl, dataDir);
  if (location.backend === 'postgres') {
    if (settings.databaseMaxConnections !== undefined) location.maxConnections = settings.databaseMaxConnections;
    if (settings.databasePreparedStatements !== undefined) location.preparedStatements = settings.databasePreparedStatements;
  }
  const blobs = await openBlobStore({ s3: settings.s3, fsyncBlobs: settings.fsyncBlobs }, dataDir);
  const database = await openDatabaseStores(location, deps);
  return {
    ...database,
    blobs,
    ping: async () => {
      await database.ping();
      await blobs.ping();
    },
    pingDatabase: () => database.ping(),
    close: async () => {
      blobs.close?.();
      await database.close();
    },
  };
}
