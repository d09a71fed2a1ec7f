// Read-only questions across stores that the console and /metrics ask: traffic over time and by
// model/channel/key, recent images, a key's balance history, every task, and running totals.

import type { UsageRecord } from './billing-store.js';
import type { TaskRecord, TaskStatus } from './task-store.js';

export interface TrafficFilter {
  /** Inclusive, ms since epoch. */
  from: number;
  /** Exclusive. */
  to: number;
  keyId?: string;
}

export interface TrafficTotals {
  /** Image operations (generations, edits, variations): task polls and image downloads are not counted. */
  requests: number;
  /** Answers with status 400 and above. */
  errors: number;
  imagesDelivered: number;
  /** Credits charged (or, for unlimited keys, what the requests would have cost). */
  amount: number;
}

export interface TrafficBucket extends TrafficTotals {
  /** Start of the bucket, ms since epoch. */
  start: number;
}

export interface TrafficGroup extends TrafficTotals {
  group: string | null;
}

export interface GalleryFilter {
  keyId?: string;
  model?: string;
  from?: number;
  to?: number;
  limit: number;
}

export interface GalleryItem {
  /** The request id, or the task id for asynchronous work. */
  source: string;
  kind: 'request' | 'task';
  keyId: string | null;
  model: string | null;
  prompt: string | null;
  blobKeys: string[];
  /** Credits charged for the whole request; null when nothing was settled. */
  amount: number | null;
  createdAt: number;
}

export interface LedgerEntry {
  at: number;
  kind: 'initial' | 'topup' | 'writeoff' | 'charge';
  /** Signed: credits in positive, charges negative. */
  amount: number;
  note: string | null;
  /** The request or task a charge was for. */
  reference: string | null;
}

export interface TaskListFilter {
  keyId?: string;
  status?: TaskStatus;
  model?: string;
  limit: number;
}

export interface RunningTotals {
  tasksByStatus: Record<TaskStatus, number>;
  /** Credits settled across every key, ever (sum of usage rows), and the images they paid for. */
  chargedCredits: number;
  imagesBilled: number;
  /** Credits held by reservations not yet settled or released. */
  heldCredits: number;
}

export interface Insights {
  traffic(filter: TrafficFilter, bucketMs: number): Promise<TrafficBucket[]>;
  breakdown(filter: TrafficFilter, by: 'model' | 'channel' | 'key'): Promise<TrafficGroup[]>;
  gallery(filter: GalleryFilter): Promise<GalleryItem[]>;
  /** Newest first: top-ups, write-offs and charges of one key. */
  ledger(keyId: string, limit: number): Promise<LedgerEntry[]>;
  /** Newest first, across keys unless one is given. */
  tasks(filter: TaskListFilter): Promise<TaskRecord[]>;
  totals(): Promise<RunningTotals>;
  /**
   * The charge of one request or task (its reservation id) of one key, if it was settled. Reservation ids
   * are scoped to the key: two keys may send the same request id.
   */
  usageFor(reservationId: string, keyId: string): Promise<UsageRecord | undefined>;
}
