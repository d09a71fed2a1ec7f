// What the admin API is built from: the stores it changes and the services whose state it shows.

import type { BillingStore } from '../core/ports/billing-store.js';
import type { CredentialGuard } from './credential-guard.js';
import type { PriceOverrides } from '../billing/price-overrides.js';
import type { SessionService } from '../console/sessions.js';
import type { Catalog } from '../core/catalog/catalog.js';
import type { AuditLog } from '../core/ports/audit-log.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { Clock } from '../core/ports/clock.js';
import type { Insights } from '../core/ports/insights.js';
import type { KeyStore } from '../core/ports/key-store.js';
import type { RequestLog } from '../core/ports/request-log.js';
import type { SessionStore } from '../core/ports/session-store.js';
import type { TaskEventStore } from '../core/ports/task-events.js';
import type { TaskStore } from '../core/ports/task-store.js';
import type { UrlSigner } from '../core/signed-urls.js';
import type { ChannelRegistry } from '../routing/channel-registry.js';
import type { TaskService } from '../tasks/task-service.js';
import type { WebhookDispatcher } from '../webhooks/dispatcher.js';

/** Retention as configured, shown by GET /admin/v1/settings and the console. */
export interface RetentionSettings {
  /** Finished tasks, stored images, idempotency records and webhook deliveries. */
  imagesAndTasksHours: number;
  /** Request log rows; null = kept until removed by hand. */
  requestLogDays: number | null;
  /** Usage rows (the charges); null = kept (they explain balances). */
  usageDetailDays: number | null;
}

export interface AdminDeps {
  /** IMAGEGATE_ADMIN_TOKEN; without it the admin API answers 403 to everything but key holders' sessions. */
  token: string | undefined;
  /** Counts wrong admin tokens and sign-ins per client address, and refuses an address that guesses. */
  credentialGuard: CredentialGuard;
  keys: KeyStore;
  billing: BillingStore;
  prices: PriceOverrides;
  requestLog: RequestLog;
  channels: ChannelRegistry;
  catalog: Catalog;
  clock: Clock;
  audit: AuditLog;
  sessions: SessionService;
  sessionStore: SessionStore;
  insights: Insights;
  tasks: TaskStore;
  taskService: TaskService;
  taskEvents: TaskEventStore;
  webhooks: WebhookDispatcher;
  blobs: BlobStore;
  signer: UrlSigner;
  retention: RetentionSettings;
}
