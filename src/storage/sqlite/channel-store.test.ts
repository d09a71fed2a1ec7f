// Runs the ChannelStore conformance suite against SQLite (a temporary file, migrated) and the in-memory store.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeChannelStoreConformance } from '../../testing/conformance/channel-store.conformance.js';
import { MemoryChannelStore } from '../../testing/memory-channel-store.js';
import { SqlChannelStore } from '../sql/channel-store.js';
import { openSqliteDatabase } from './database.js';
import { migrate } from './migrate.js';

describeChannelStoreConformance('SqlChannelStore', async () => {
  const folder = await mkdtemp(join(tmpdir(), 'imagegate-channels-'));
  const database = openSqliteDatabase({ file: join(folder, 'imagegate.db') });
  await migrate(database.db);
  return {
    store: new SqlChannelStore(database.db),
    cleanup: async () => {
      await database.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
});

describeChannelStoreConformance('MemoryChannelStore', async () => ({ store: new MemoryChannelStore(), cleanup: async () => undefined }));
