// The Kysely table interfaces of the SQLite database: column names as stored (snake_case), times as ms since epoch.

/** Tables the migrations in ./migrations create; later migrations add their tables here. */
export interface DatabaseSchema {
  schema_migrations: SchemaMigrationsTable;
  api_keys: ApiKeysTable;
  request_logs: RequestLogsTable;
  tasks: TasksTable;
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
}

export interface RequestLogsTable {
  id: string;
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
