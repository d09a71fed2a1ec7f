// Every store on PostgreSQL: one pool for the process, the migrations applied under an advisory
// lock, the portable SQL stores plus Postgres' own claim (tasks, webhooks) and billing.

import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../../core/ports/clock.js';
import type { SecretBox } from '../../secrets/secret-box.js';
import { SqlChannelStore } from '../sql/channel-store.js';
import { SqlChangeVersionStore } from '../sql/change-version-store.js';
import { SqlIdempotencyStore } from '../sql/idempotency-store.js';
import { SqlKeyStore } from '../sql/key-store.js';
import { SqlPriceStore } from '../sql/price-store.js';
import { SqlRequestLog } from '../sql/request-log.js';
import { SqlAuditLog } from '../sql/audit-log.js';
import { SqlInsights } from '../sql/insights.js';
import { SqlSessionStore } from '../sql/session-store.js';
import { SqlTaskEventStore } from '../sql/task-event-store.js';
import { StorageUnavailableError, type DatabaseStores } from '../storage.js';
import { PostgresBilling } from './billing.js';
import { openPostgresDatabase, redactPostgresUrl } from './database.js';
import { migratePostgres } from './migrate.js';
import { PostgresTaskStore } from './task-store.js';
import { PostgresWebhookStore } from './webhook-store.js';

export interface PostgresStorageOptions {
  url: string;
  clock: Clock;
  logger: Logger;
  /** Encrypts upstream API keys in the channels table and clients' webhook secrets. */
  secrets?: SecretBox;
  /** Connections in the process's pool; default 10. */
  maxConnections?: number;
  /** Named prepared statements on the hot path (prepared-statements.ts); default true. */
  preparedStatements?: boolean;
}

export async function openPostgresStorage(options: PostgresStorageOptions): Promise<DatabaseStores> {
  const database = openPostgresDatabase({
    url: options.url,
    ...(options.maxConnections === undefined ? {} : { maxConnections: options.maxConnections }),
    ...(options.preparedStatements === undefined ? {} : { prepareStatements: options.preparedStatements }),
  });
  try {
    await sql`SELECT 1`.execute(database.db);
  } catch (error) {
    await database.close();
    const reason = (error as { code?: string }).code ?? (error instanceof Error ? error.message : String(error));
    throw new StorageUnavailableError(`cannot reach PostgreSQL at ${redactPostgresUrl(options.url)} (${reason}); check database.url / IMAGEGATE_DATABASE_URL and that the server is up`, { cause: error });
  }
  try {
    await migratePostgres(database.db, { schema: database.schema });
  } catch (error) {
    await database.close();
    throw error;
  }
  const requestLog = new SqlRequestLog(database.db, {
    onError: (error, context) => options.logger.error({ err: error, ...context }, 'request log write failed'),
  });
  let closing: Promise<void> | undefined;
  return {
    backend: 'postgres',
    keys: new SqlKeyStore(database.db),
    tasks: new PostgresTaskStore(database.db, database.statements),
    channels: new SqlChannelStore(database.db, options.secrets),
    changeVersions: new SqlChangeVersionStore(database.db),
    prices: new SqlPriceStore(database.db),
    requestLog,
    idempotency: new SqlIdempotencyStore(database.db),
    audit: new SqlAuditLog(database.db),
    sessions: new SqlSessionStore(database.db),
    taskEvents: new SqlTaskEventStore(database.db),
    insights: new SqlInsights(database.db),
    webhooks: new PostgresWebhookStore(database.db, options.secrets),
    billing: (prices) => new PostgresBilling({ db: database.db, statements: database.statements, prices, clock: options.clock }),
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
