// The billing store: the Billing port the request flow calls, plus the ledger operations the admin
// and usage APIs need and the crash recovery (process leases, the sweep of abandoned reservations).
// SQLite (src/storage/sqlite/billing.ts) and PostgreSQL (src/storage/postgres/billing.ts) implement
// it, sharing src/storage/sql/billing.ts; the conformance suite in src/testing/conformance/billing.conformance.ts checks both.

import type { Billing } from './billing.js';
import type { TaskLedger } from './task-ledger.js';

/** One settled charge, as the usage API and the admin API show it. */
export interface UsageRecord {
  reservationId: string;
  keyId: string;
  model: string;
  operation: string;
  provider: string | null;
  channel: string | null;
  imagesRequested: number;
  imagesDelivered: number;
  size: string;
  quality: string | null;
  priceGroup: string;
  unit: string;
  unitPrice: number;
  inputTextTokens: number | null;
  inputImageTokens: number | null;
  outputTokens: number | null;
  amount: number;
  metered: boolean;
  detail: Record<string, unknown>;
  createdAt: number;
}

export interface UsageFilter {
  keyId?: string;
  model?: string;
  /** Inclusive, ms since epoch. */
  from?: number;
  /** Exclusive, ms since epoch. */
  to?: number;
  limit?: number;
}

export interface UsageSummaryRow {
  /** The model, the UTC day (YYYY-MM-DD), or null for the grand total. */
  group: string | null;
  requests: number;
  imagesRequested: number;
  imagesDelivered: number;
  amount: number;
}

/** Everything that explains a balance: granted = balance + charged + held. */
export interface KeyAccount {
  balance: number | null;
  granted: number;
  charged: number;
  held: number;
}

export interface SweepOptions {
  /**
   * Only reservations held at least this long: the longest a synchronous request can live (past the
   * synchronous limit it becomes a task, which takes its reservation over). A second guard beside the
   * process lease, for a process that is alive but missed its heartbeats.
   */
  heldLongerThanMs: number;
}

export interface BillingStore extends Billing {
  /**
   * A task's reservation and settlement written with the task's own rows in one transaction (see
   * TaskLedger): the billing store shares its database with the task store.
   */
  readonly taskLedger: TaskLedger;
  /**
   * Records that this store's process is alive until now + leaseMs (creating its row on the first
   * call). Reservations it holds are safe from the sweep while the lease runs.
   */
  renewProcessLease(leaseMs: number): Promise<void>;
  /** Ends this process's lease at once (a clean shutdown, once no request is in flight). */
  endProcessLease(): Promise<void>;
  /**
   * Returns every reservation still held by a process whose lease has lapsed (it crashed or was
   * killed) and held longer than `heldLongerThanMs`. Safe to run from several processes at once: each
   * reservation is returned once. Answers how many were returned.
   */
  sweepAbandoned(options: SweepOptions): Promise<number>;
  /** Adds credits to a metered key; answers the new balance. GatewayError `conflict` for an unlimited key. */
  topUp(keyId: string, amount: number, note: string | null, kind?: 'initial' | 'topup'): Promise<number>;
  /** Makes a key unlimited (its balance written off) or metered from `initialCredits`; answers the balance (null = unlimited). */
  setMetered(keyId: string, metered: boolean, initialCredits?: number, note?: string | null): Promise<number | null>;
  /** The key's balance; null = unlimited, undefined = no such key. */
  balance(keyId: string): Promise<number | null | undefined>;
  account(keyId: string): Promise<KeyAccount>;
  /** Newest first. */
  listUsage(filter: UsageFilter): Promise<UsageRecord[]>;
  /** Totals per model, per UTC day, or (undefined) one grand total row when there is any usage. */
  summarizeUsage(filter: Omit<UsageFilter, 'limit'>, groupBy: 'model' | 'day' | undefined): Promise<UsageSummaryRow[]>;
  /** Retention: replaces the `detail` of usage rows created before `cutoffMs` with `{"expired":true}`; answers how many. */
  expireDetailOlderThan(cutoffMs: number): Promise<number>;
}
