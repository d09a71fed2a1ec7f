// The whole storage of one gateway process — every store behind its port — as opened together by
// src/storage/open-storage.ts from the configuration. Only the composition root sees this shape.

import type { PriceBook } from '../billing/price-book.js';
import type { BillingStore } from '../core/ports/billing-store.js';
import type { BlobStore } from '../core/ports/blob-store.js';
import type { ChangeVersionStore } from '../core/ports/change-feed.js';
import type { ChannelStore } from '../core/ports/channel-store.js';
import type { IdempotencyStore } from '../core/ports/idempotency-store.js';
import type { KeyStore } from '../core/ports/key-store.js';
import type { PriceStore } from '../core/ports/price-store.js';
import type { RequestLog } from '../core/ports/request-log.js';
import type { TaskStore } from '../core/ports/task-store.js';
import type { WebhookStore } from '../core/ports/webhook-store.js';
import type { AuditLog } from '../core/ports/audit-log.js';
import type { Insights } from '../core/ports/insights.js';
import type { SessionStore } from '../core/ports/session-store.js';
import type { TaskEventStore } from '../core/ports/task-events.js';

export type DatabaseBackend = 'sqlite' | 'postgres';

export interface Storage {
  readonly backend: DatabaseBackend;
  keys: KeyStore;
  tasks: TaskStore;
  channels: ChannelStore;
  prices: PriceStore;
  /** Buffered: close() writes what is left. */
  requestLog: RequestLog & { close(): Promise<void> };
  idempotency: IdempotencyStore;
  webhooks: WebhookStore;
  blobs: BlobStore & { close?(): void };
  /** Counters of shared-setting changes, polled by every process (src/shared-state/polling-change-feed.ts). */
  changeVersions: ChangeVersionStore;
  /** The console's: admin actions, sign-in sessions, task timelines, and the read-only questions it asks. */
  audit: AuditLog;
  sessions: SessionStore;
  taskEvents: TaskEventStore;
  insights: Insights;
  /**
   * The billing store, pricing with `prices`. Made after opening because the price book is built
   * from the stored overrides (`prices`) first.
   */
  billing(prices: PriceBook): BillingStore;
  /** Throws when the database or the blob store is unusable (readiness). */
  ping(): Promise<void>;
  /** Throws when the database alone is unusable (readiness names each dependency). */
  pingDatabase(): Promise<void>;
  /** Writes the buffered request log, then closes the database; safe to call more than once. */
  close(): Promise<void>;
}

export interface DatabaseStores extends Omit<Storage, 'blobs' | 'ping' | 'pingDatabase' | 'close'> {
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The configured database (or blob store) cannot be reached at start-up: the process should not start. */
export class StorageUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StorageUnavailableError';
  }
}
