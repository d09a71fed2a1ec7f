// What the admin API is built from: the stores it changes and the services whose state it shows.

import type { BillingStore } from '../core/ports/billing-store.js';
import type { PriceOverrides } from '../billing/price-overrides.js';
import type { Catalog } from '../core/catalog/catalog.js';
import type { Clock } from '../core/ports/clock.js';
import type { KeyStore } from '../core/ports/key-store.js';
import type { RequestLog } from '../core/ports/request-log.js';
import type { ChannelRegistry } from '../routing/channel-registry.js';

export interface AdminDeps {
  /** IMAGEGATE_ADMIN_TOKEN; without it the admin API answers 403 to everything. */
  token: string | undefined;
  keys: KeyStore;
  billing: BillingStore;
  prices: PriceOverrides;
  requestLog: RequestLog;
  channels: ChannelRegistry;
  catalog: Catalog;
  clock: Clock;
}
