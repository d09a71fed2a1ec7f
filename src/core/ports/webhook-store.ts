// Where webhook deliveries and their attempts are kept, so a delivery survives a restart and every
// attempt can be shown on the task.

export type WebhookState = 'waiting' | 'pending' | 'delivered' | 'failed';

export interface WebhookDelivery {
  /** The `webhook-id` every attempt of this delivery carries (receivers deduplicate by it). */
  id: string;
  taskId: string;
  url: string;
  /** The client's own secret (in clear here; the store keeps it encrypted), or null for the gateway's. */
  secret: string | null;
  publicBase: string;
  state: WebhookState;
  attempts: number;
  nextAttemptAt: number | null;
  createdAt: number;
  completedAt: number | null;
}

export interface WebhookAttempt {
  attempt: number;
  attemptedAt: number;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

export type AttemptOutcome = { state: 'pending'; nextAttemptAt: number } | { state: 'delivered' | 'failed'; completedAt: number };

export interface WebhookStore {
  register(delivery: Pick<WebhookDelivery, 'id' | 'taskId' | 'url' | 'secret' | 'publicBase' | 'createdAt'>): Promise<void>;
  remove(taskId: string): Promise<void>;
  /** waiting → pending, due at `now`; false when the task has no waiting delivery. */
  activate(taskId: string, now: number): Promise<boolean>;
  /** After a crash between a task's end and its activation: activates waiting deliveries of finished tasks. */
  activateFinished(now: number): Promise<number>;
  /** Takes the delivery due first for `owner` until `leaseUntil`. */
  claimDue(owner: string, now: number, leaseUntil: number): Promise<WebhookDelivery | undefined>;
  /** Records an attempt and what follows it, if `owner` still holds the delivery. */
  recordAttempt(deliveryId: string, owner: string, attempt: WebhookAttempt, outcome: AttemptOutcome): Promise<boolean>;
  /** failed or delivered → pending, due at `now` (an operator's retry); false when there is nothing finished to retry. */
  retry(taskId: string, now: number): Promise<boolean>;
  forTask(taskId: string): Promise<{ delivery: WebhookDelivery; attempts: WebhookAttempt[] } | undefined>;
  /** Deletes deliveries created before the cutoff that are finished or whose task no longer exists. */
  deleteOlderThan(cutoffMs: number): Promise<number>;
  /** Encrypts clients' secrets stored in clear (by an older version); answers how many deliveries it sealed. */
  sealStoredSecrets?(): Promise<number>;
}
