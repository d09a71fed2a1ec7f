// The Kysely table interfaces of the database, the same on SQLite and Postgres (each backend's numbered
// migrations create the same tables and columns): names as stored (snake_case), times as ms since epoch,
// money as integer credits, flags as 1/0 and JSON as text, so every portable store runs on both.

import type { Generated } from 'kysely';

/** Tables the migrations in ./migrations create; later migrations add their tables here. */
export interface DatabaseSchema {
  schema_migrations: SchemaMigrationsTable;
  api_keys: ApiKeysTable;
  request_logs: RequestLogsTable;
  tasks: TasksTable;
  idempotency_keys: IdempotencyKeysTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  channels: ChannelsTable;
  billing_prices: BillingPricesTable;
  billing_price_groups: BillingPriceGroupsTable;
  billing_reservations: BillingReservationsTable;
  billing_usage: BillingUsageTable;
  billing_ledger: BillingLedgerTable;
  gateway_processes: GatewayProcessesTable;
  change_versions: ChangeVersionsTable;
  audit_log: AuditLogTable;
  console_sessions: ConsoleSessionsTable;
  task_events: TaskEventsTable;
}

/** 060_change_versions: a counter per kind of shared setting, polled by every process. */
export interface ChangeVersionsTable {
  topic: string;
  version: number;
}

export interface SchemaMigrationsTable {
  version: number;
  name: string;
  applied_at: number;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  hash: string;
  prefix: string;
  /** SQLite has no boolean: 1 or 0. */
  enabled: number;
  created_at: number;
  expires_at: number | null;
  source: string;
  /** 004_billing: credits left; null = unlimited. */
  balance: number | null;
  /** 004_billing: JSON text string[]; null = every model. */
  allowed_models: string | null;
  /** 004_billing: JSON text string[] of addresses/CIDRs; null = any address. */
  ip_allowlist: string | null;
  requests_per_minute: number | null;
  images_per_minute: number | null;
  concurrent_requests: number | null;
  price_group: Generated<string>;
  revoked_at: number | null;
}

export interface RequestLogsTable {
  id: string;
  /** 090: the request id, which callers may repeat; null never written since 090. */
  request_id: string | null;
  key_id: string | null;
  endpoint: string;
  model: string | null;
  provider: string | null;
  channel: string | null;
  status: number;
  images_requested: number;
  images_delivered: number;
  size: string | null;
  latency_ms: number;
  error_code: string | null;
  created_at: number;
  /** Migration 010; null on older rows. */
  client_ip?: string | null;
  /** 041_console: JSON text of RequestDetails; null for requests that carried none. */
  details?: string | null;
}

export interface TasksTable {
  id: string;
  key_id: string;
  operation: string;
  model: string;
  status: string;
  progress: number;
  /** JSON text of the validated request. */
  request: string;
  /** JSON text, or null until the task succeeds. */
  result: string | null;
  /** JSON text of the OpenAI error object, or null. */
  error: string | null;
  /** JSON text of the upstream job reference, or null. */
  upstream_job: string | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  attempts: number;
  created_at: number;
  started_at: number | null;
  completed_at: number | null;
}

/** 003_channels: upstream channels, seeded from the config file or managed at run time. */
export interface ChannelsTable {
  name: string;
  provider: string;
  base_url: string | null;
  /** JSON text: string[]. */
  api_keys: string;
  /** JSON text: string[]. */
  models: string;
  /** JSON text: Record<string, string>. */
  model_map: string;
  priority: number;
  weight: number;
  enabled: number;
  disabled_reason: string | null;
  max_concurrency: number | null;
  max_queue: number | null;
  timeout_ms: number | null;
  poll_interval_ms: number | null;
  /** JSON text: Record<string, unknown>. */
  options: string;
  source: string;
  config_hash: string | null;
  created_at: number;
  updated_at: number;
}

/** 004_billing: operators' price changes over catalog/prices.yaml (JSON text in the file's shape). */
export interface BillingPricesTable {
  model: string;
  spec: string;
  updated_at: number;
}

export interface BillingPriceGroupsTable {
  name: string;
  spec: string;
  updated_at: number;
}

/** 004_billing, 006_billing_group_commit: one per request or task that reserved credits, keyed by (key_id, id). */
export interface BillingReservationsTable {
  key_id: string;
  id: string;
  model: string;
  operation: string;
  images_requested: number;
  size: string;
  quality: string | null;
  price_group: string;
  /** JSON text: the price quoted at reserve time. */
  pricing: string;
  /** JSON text: the facts the estimate used. */
  facts: string;
  estimated: number;
  debited: number;
  /** swept: returned by the sweep after its holder died. */
  status: 'held' | 'settled' | 'released' | 'swept';
  /** The process whose request holds it; null once a task holds it (or it is closed). */
  holder: string | null;
  created_at: number;
  closed_at: number | null;
}

/** 006_billing_group_commit: one per running gateway process, its lease renewed by heartbeats. */
export interface GatewayProcessesTable {
  id: string;
  started_at: number;
  lease_expires_at: number;
}

/** 004_billing: one per settled charge. */
export interface BillingUsageTable {
  reservation_id: string;
  key_id: string;
  model: string;
  operation: string;
  provider: string | null;
  channel: string | null;
  images_requested: number;
  images_delivered: number;
  size: string;
  quality: string | null;
  price_group: string;
  unit: string;
  unit_price: number;
  input_text_tokens: number | null;
  input_image_tokens: number | null;
  output_tokens: number | null;
  amount: number;
  metered: number;
  /** JSON text: the arithmetic behind `amount`. */
  detail: string;
  created_at: number;
}

/** 004_billing: credits added to (or written off) a balance other than by charges. */
export interface BillingLedgerTable {
  id: Generated<number>;
  key_id: string;
  kind: 'initial' | 'topup' | 'writeoff';
  amount: number;
  note: string | null;
  created_at: number;
}

/** 002_idempotency.sql: one row per (API key, Idempotency-Key). */
export interface IdempotencyKeysTable {
  key_id: string;
  idempotency_key: string;
  request_hash: string;
  /** 'running' or 'done'. */
  state: string;
  owner: string | null;
  locked_until: number | null;
  /** JSON text of the stored response, null while running. */
  response: string | null;
  created_at: number;
  expires_at: number;
}

/** 002_idempotency.sql: the webhook of one task. */
export interface WebhookDeliveriesTable {
  id: string;
  task_id: string;
  url: string;
  secret: string | null;
  public_base: string;
  /** 'waiting', 'pending', 'delivered' or 'failed'. */
  state: string;
  attempts: number;
  next_attempt_at: number | null;
  lease_owner: string | null;
  lease_expires_at: number | null;
  created_at: number;
  completed_at: number | null;
}

/** 002_idempotency.sql: one row per delivery attempt. */
export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt: number;
  attempted_at: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

/** 040_audit_log. */
export interface AuditLogTable {
  id: Generated<number>;
  at: number;
  actor: string;
  ip: string | null;
  action: string;
  target: string | null;
  /** JSON text. */
  changes: string;
  outcome: string;
  request_id: string | null;
}

/** 041_console. */
export interface ConsoleSessionsTable {
  id_hash: string;
  role: string;
  key_id: string | null;
  csrf_token: string;
  ip: string | null;
  created_at: number;
  expires_at: number;
}

/** 041_console. */
export interface TaskEventsTable {
  id: Generated<number>;
  task_id: string;
  at: number;
  kind: string;
  /** JSON text. */
  detail: string;
}
