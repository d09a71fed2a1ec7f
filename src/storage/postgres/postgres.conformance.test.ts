// Runs every storage conformance suite against the PostgreSQL stores, each test on a fresh schema
// of the shared test server (migrated as a start-up would), dropped afterwards.

import { readPriceFile } from '../../billing/price-file.js';
import { PriceOverrides } from '../../billing/price-overrides.js';
import { systemClock, type Clock } from '../../core/ports/clock.js';
import { describeBillingConformance } from '../../testing/conformance/billing.conformance.js';
import { describeChannelStoreConformance } from '../../testing/conformance/channel-store.conformance.js';
import { describeAuditLogConformance, describeInsightsConformance, describeSessionStoreConformance, describeTaskEventStoreConformance } from '../../testing/conformance/console-stores.conformance.js';
import { describeKeyStoreConformance } from '../../testing/conformance/key-store.conformance.js';
import { describeRequestLogConformance } from '../../testing/conformance/request-log.conformance.js';
import { describeTaskStoreConformance } from '../../testing/conformance/task-store.conformance.js';
import { describeWebhookStoreConformance } from '../../testing/conformance/webhook-store.conformance.js';
import { createTestSchema, runOnTestServer } from '../../testing/postgres.js';
import { createSecretBox, generateSecretsKey, type SecretBox } from '../../secrets/secret-box.js';
import pino from 'pino';
import type { DatabaseStores } from '../storage.js';
import { openPostgresStorage } from './postgres-storage.js';

async function openFresh(clock: Clock = systemClock, secrets?: SecretBox): Promise<{ stores: DatabaseStores; url: string; schema: string; cleanup(): Promise<void> }> {
  const schema = createTestSchema('conformance');
  const stores = await openPostgresStorage({ url: schema.url, clock, logger: pino({ level: 'silent' }), maxConnections: 4, ...(secrets === undefined ? {} : { secrets }) });
  return {
    stores,
    url: schema.url,
    schema: schema.schema,
    cleanup: async () => {
      await stores.close();
      await schema.drop();
    },
  };
}

describeKeyStoreConformance('Postgres KeyStore', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.keys, cleanup };
});

describeRequestLogConformance('Postgres RequestLog', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.requestLog, cleanup };
});

describeTaskStoreConformance('PostgresTaskStore', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.tasks, cleanup };
});

describeChannelStoreConformance('Postgres ChannelStore', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.channels, cleanup };
});

describeBillingConformance('PostgresBilling', async (clock) => {
  const { stores, url, cleanup } = await openFresh(clock);
  const prices = await PriceOverrides.open(stores.prices, readPriceFile(), clock);
  const others: DatabaseStores[] = [];
  return {
    billing: stores.billing(prices.book),
    // Another process: its own pool on the same schema, its own process id.
    otherProcess: async () => {
      const other = await openPostgresStorage({ url, clock, logger: pino({ level: 'silent' }), maxConnections: 2 });
      others.push(other);
      return other.billing((await PriceOverrides.open(other.prices, readPriceFile(), clock)).book);
    },
    keys: stores.keys,
    tasks: stores.tasks,
    taskEvents: stores.taskEvents,
    setPrice: async (model, spec) => void (await prices.setModelPrice(model, spec)),
    cleanup: async () => {
      for (const other of others) await other.close();
      await cleanup();
    },
  };
});

describeWebhookStoreConformance('PostgresWebhookStore', async () => {
  const { stores, schema, cleanup } = await openFresh(systemClock, createSecretBox(generateSecretsKey()));
  const table = `"${schema}".webhook_deliveries`;
  return {
    store: stores.webhooks,
    tasks: stores.tasks,
    rawSecret: {
      read: async (id) => ((await runOnTestServer(`SELECT secret FROM ${table} WHERE id = $1`, [id])).rows[0] as { secret: string | null }).secret,
      write: async (id, stored) => void (await runOnTestServer(`UPDATE ${table} SET secret = $2 WHERE id = $1`, [id, stored])),
    },
    cleanup,
  };
});

describeAuditLogConformance('SqlAuditLog on Postgres', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.audit, cleanup };
});

describeSessionStoreConformance('SqlSessionStore on Postgres', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.sessions, cleanup };
});

describeTaskEventStoreConformance('SqlTaskEventStore on Postgres', async () => {
  const { stores, cleanup } = await openFresh();
  return { store: stores.taskEvents, cleanup };
});

describeInsightsConformance('SqlInsights on Postgres', async () => {
  const { stores, cleanup } = await openFresh();
  return { insights: stores.insights, requestLog: stores.requestLog, tasks: stores.tasks, cleanup };
});
