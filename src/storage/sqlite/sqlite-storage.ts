// Every store on the embedded SQLite database: opens the file, applies the migrations, builds the stores.

import type { Logger } from 'pino';
import { sql } from 'kysely';
import { SqliteBilling } from '../../billing/sqlite-billing.js';
import type { Clock } from '../../core/ports/clock.js';
import type { DatabaseStores } from '../storage.js';
import { SqliteChannelStore } from './channel-store.js';
import { openSqliteDatabase } from './database.js';
import { SqliteIdempotencyStore } from './idempotency-store.js';
import { SqliteKeyStore } from './key-store.js';
import { migrate } from './migrate.js';
import { SqlitePriceStore } from './price-store.js';
import { SqliteRequestLog } from './request-log.js';
import { SqliteTaskStore } from './task-store.js';
import { SqliteWebhookStore } from './webhook-store.js';

export interface SqliteStorageOptions {
  file: string;
  clock: Clock;
  logger: Logger;
}

export async function openSqliteStorage(options: SqliteStorageOptions): Promise<DatabaseStores> {
  const database = openSqliteDatabase({ file: options.file, backgroundCheckpoints: true });
  try {
    await migrate(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  const requestLog = new SqliteRequestLog(database.db, {
    onError: (error, context) => options.logger.error({ err: error, ...context }, 'request log write failed'),
  });
  let closing: Promise<void> | undefined;
  return {
    backend: 'sqlite',
    keys: new SqliteKeyStore(database.db),
    tasks: new SqliteTaskStore(database.db),
    channels: new SqliteChannelStore(database.db),
    prices: new SqlitePriceStore(database.db),
    requestLog,
    idempotency: new SqliteIdempotencyStore(database.db),
    webhooks: new SqliteWebhookStore(database.db),
    billing: (prices) => new SqliteBilling({ db: database.db, prices, clock: options.clock }),
    ping: async () => {
      await sql`SELECT 1`.execute(database.db);
    },
    close: () => {
      closing ??= requestLog.close().finally(() => database.close());
      return closing;
    },
  };
}
