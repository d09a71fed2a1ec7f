// Runs every storage conformance suite against SQLite stores on a temporary database file.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeAuditLogConformance, describeInsightsConformance, describeSessionStoreConformance, describeTaskEventStoreConformance } from '../../testing/conformance/console-stores.conformance.js';
import { describeKeyStoreConformance } from '../../testing/conformance/key-store.conformance.js';
import { describeRequestLogConformance } from '../../testing/conformance/request-log.conformance.js';
import { describeTaskStoreConformance } from '../../testing/conformance/task-store.conformance.js';
import { describeWebhookStoreConformance } from '../../testing/conformance/webhook-store.conformance.js';
import { SqliteWebhookStore } from './webhook-store.js';
import { createSecretBox, generateSecretsKey } from '../../secrets/secret-box.js';
import { GroupCommit } from './group-commit.js';
import { openSqliteDatabase, type SqliteDatabase } from './database.js';
import { SqlKeyStore } from '../sql/key-store.js';
import { migrate } from './migrate.js';
import { SqlRequestLog } from '../sql/request-log.js';
import { SqlAuditLog } from '../sql/audit-log.js';
import { SqlInsights } from '../sql/insights.js';
import { SqlSessionStore } from '../sql/session-store.js';
import { SqliteTaskEventStore } from './task-event-store.js';
import { SqliteTaskStore } from './task-store.js';
import { groupCommittedRequestLogRows } from './request-log-rows.js';

async function openTemporaryDatabase(): Promise<{ database: SqliteDatabase; remove(): Promise<void> }> {
  const folder = await mkdtemp(join(tmpdir(), 'imagegate-sqlite-'));
  const database = openSqliteDatabase({ file: join(folder, 'imagegate.db') });
  await migrate(database.db);
  return {
    database,
    remove: async () => {
      await database.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
}

describeKeyStoreConformance('SqlKeyStore', async () => {
  const { database, remove } = await openTemporaryDatabase();
  return { store: new SqlKeyStore(database.db), cleanup: remove };
});

describeRequestLogConformance('SqlRequestLog', async () => {
  const { database, remove } = await openTemporaryDatabase();
  const store = new SqlRequestLog(database.db);
  return {
    store,
    cleanup: async () => {
      await store.close();
      await remove();
    },
  };
});

describeRequestLogConformance('SqlRequestLog through the group commit', async () => {
  const { database, remove } = await openTemporaryDatabase();
  const store = new SqlRequestLog(database.db, { writeRows: groupCommittedRequestLogRows(database.native, GroupCommit.forDatabase(database)) });
  return {
    store,
    cleanup: async () => {
      await store.close();
      await remove();
    },
  };
});

describeTaskStoreConformance('SqliteTaskStore', async () => {
  const { database, remove } = await openTemporaryDatabase();
  return { store: new SqliteTaskStore(database), cleanup: remove };
});

describeWebhookStoreConformance('SqliteWebhookStore', async () => {
  const { database, remove } = await openTemporaryDatabase();
  const store = new SqliteWebhookStore(database, GroupCommit.forDatabase(database), createSecretBox(generateSecretsKey()));
  return {
    store,
    tasks: new SqliteTaskStore(database),
    rawSecret: {
      read: async (id) => (database.native.prepare('SELECT secret FROM webhook_deliveries WHERE id = ?').get(id) as { secret: string | null }).secret,
      write: async (id, stored) => void database.native.prepare('UPDATE webhook_deliveries SET secret = ? WHERE id = ?').run(stored, id),
    },
    cleanup: remove,
  };
});

describeAuditLogConformance('SqlAuditLog on SQLite', async () => {
  const { database, remove } = await openTemporaryDatabase();
  return { store: new SqlAuditLog(database.db), cleanup: remove };
});

describeSessionStoreConformance('SqlSessionStore on SQLite', async () => {
  const { database, remove } = await openTemporaryDatabase();
  return { store: new SqlSessionStore(database.db), cleanup: remove };
});

describeTaskEventStoreConformance('SqliteTaskEventStore', async () => {
  const { database, remove } = await openTemporaryDatabase();
  return { store: new SqliteTaskEventStore(database), cleanup: remove };
});

describeInsightsConformance('SqlInsights on SQLite', async () => {
  const { database, remove } = await openTemporaryDatabase();
  const requestLog = new SqlRequestLog(database.db);
  return {
    insights: new SqlInsights(database.db),
    requestLog,
    tasks: new SqliteTaskStore(database),
    cleanup: async () => {
      await requestLog.close();
      await remove();
    },
  };
});
