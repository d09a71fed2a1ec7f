// Every store on the embedded SQLite database: opens the file, applies the migrations, builds the stores.

import type { Logger } from 'pino';
import { sql } from 'kysely';
import { SqliteBilling } from './billing.js';
import type { Clock } from '../../core/ports/clock.js';
import type { DatabaseStores } from '../storage.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import { SqlChannelStore } from '../sql/channel-store.js';
import { SqlChangeVersionStore } from '../sql/change-version-store.js';
import { openSqliteDatabase } from './database.js';
import { SqlIdempotencyStore } from '../sql/idempotency-store.js';
import { SqlKeyStore } from '../sql/key-store.js';
import { migrate } from './migrate.js';
import { SqlPriceStore } from '../sql/price-store.js';
import { SqlRequestLog } from '../sql/request-log.js';
import { SqliteTaskStore } from './task-store.js';
import { SqliteWebhookStore } from './webhook-store.js';
import { SqlAuditLog } from '../sql/audit-log.js';
import { SqlInsights } from '../sql/insights.js';
import { SqlSessionStore } from '../sql/session-store.js';
import { GroupCommit } from './group-commit.js';
import { groupCommittedRequestLogRows } from './request-log-rows.js';
import { SqliteTaskEventStore } from './task-event-store.js';

export interface SqliteStorageOptions {
  file: string;
  clock: Clock;
  logger: Logger;
  /** Encrypts upstream API keys in the channels table and clients' webhook secrets. */
  secrets?: SecretBox;
}

export async function openSqliteStorage(options: SqliteStorageOptions): Promise<DatabaseStores> {
  const database = openSqliteDatabase({ file: options.file, backgroundCheckpoints: true });
  try {
    await migrate(database.db);
  } catch (error) {
    await database.close();
    throw error;
  }
  // One group commit for the database: billing's units, task writes, timeline events and request log
  // rows issued in the same turn of the event loop share one transaction.
  const batches = GroupCommit.forDatabase(database);
  const requestLog = new SqlRequestLog(database.db, {
    onError: (error, context) => options.logger.error({ err: error, ...context }, 'request log write failed'),
    writeRows: groupCommittedRequestLogRows(database.native, batches),
  });
  const tasks = new SqliteTaskStore(database, batches);
  const taskEvents = new SqliteTaskEventStore(database, batches);
  let closing: Promise<void> | undefined;
  return {
    backend: 'sqlite',
    keys: new SqlKeyStore(database.db),
    tasks,
    channels: new SqlChannelStore(database.db, options.secrets),
    changeVersions: new SqlChangeVersionStore(database.db),
    prices: new SqlPriceStore(database.db),
    requestLog,
    idempotency: new SqlIdempotencyStore(database.db),
    audit: new SqlAuditLog(database.db),
    sessions: new SqlSessionStore(database.db),
    taskEvents,
    insights: new SqlInsights(database.db),
    webhooks: new SqliteWebhookStore(database, batches, options.secrets),
    billing: (prices) => new SqliteBilling({ database, prices, clock: options.clock, batches, tasks, taskEvents }),
    // Reachable and migrated: a database that lost its tables (or the wrong schema) is not ready.
    ping: async () => {
      await sql`SELECT 1 FROM schema_migrations LIMIT 1`.execute(database.db);
    },
    close: () => {
      closing ??= requestLog.close().finally(() => database.close());
      return closing;
    },
  };
}
