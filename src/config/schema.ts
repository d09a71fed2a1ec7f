// The configuration file's schema (YAML, IMAGEGATE_CONFIG) and the resolved config type.

import { Type, type Static } from '@sinclair/typebox';
import { providerNames } from './provider-names.js';

/** A channel, as written in the config file and as sent to the admin API. */
export const ChannelSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    provider: Type.Union(
      providerNames.map((name) => Type.Literal(name)),
      { description: `one of ${providerNames.join(', ')}` },
    ),
    base_url: Type.Optional(Type.String({ minLength: 1 })),
    api_key: Type.Optional(Type.String()),
    /** Several upstream keys, used in rotation; instead of api_key. */
    api_keys: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1 })),
    models: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    model_map: Type.Optional(Type.Record(Type.String(), Type.String())),
    priority: Type.Optional(Type.Integer()),
    weight: Type.Optional(Type.Integer({ minimum: 0 })),
    enabled: Type.Optional(Type.Boolean()),
    timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    poll_interval_ms: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Upstream calls in flight at once on this channel; unlimited when absent. */
    max_concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
    /** Requests that may wait for a slot before the channel is skipped (default 100). */
    max_queue: Type.Optional(Type.Integer({ minimum: 0 })),
    options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  { additionalProperties: false },
);

export const ConfigFileSchema = Type.Object(
  {
    server: Type.Optional(
      Type.Object(
        {
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          host: Type.Optional(Type.String()),
          public_url: Type.Optional(Type.String()),
          body_limit_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          body_memory_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'megabytes of request bodies this process holds at once; at least body_limit_mb' })),
          stream_heartbeat_ms: Type.Optional(Type.Integer({ minimum: 1, description: 'milliseconds between SSE comment heartbeats' })),
          workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, description: 'processes serving HTTP (node:cluster); rate limits and quotas stay exact across them' })),
          /** Reverse proxies whose X-Forwarded-For is believed: addresses or CIDRs; none by default. */
          trust_proxy: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'a list of proxy addresses or CIDRs' })),
        },
        { additionalProperties: false },
      ),
    ),
    database: Type.Optional(
      Type.Object(
        {
          // sqlite:<path> (the default: <data_dir>/imagegate.sqlite) or postgres://user:password@host:port/db[?schema=name].
          url: Type.Optional(Type.String({ minLength: 1 })),
          // Connections in each process's PostgreSQL pool (ignored for SQLite); default 10.
          max_connections: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
          // The hot path's statements as named prepared statements (PostgreSQL); default true. False behind a
          // pooler in transaction mode that does not carry prepared statements (PgBouncer before 1.21).
          prepared_statements: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    storage: Type.Optional(
      Type.Object(
        {
          data_dir: Type.Optional(Type.String()),
          // fsync each stored image before it is served (see LocalBlobStoreOptions.fsync); default false.
          fsync: Type.Optional(Type.Boolean()),
          // Images in an S3-compatible bucket instead of <data dir>/blobs (src/storage/blob/s3-blob-store.ts).
          s3: Type.Optional(
            Type.Object(
              {
                bucket: Type.String({ minLength: 1 }),
                region: Type.Optional(Type.String({ minLength: 1 })),
                endpoint: Type.Optional(Type.String({ pattern: '^https?://', description: 'an http(s) URL' })),
                prefix: Type.Optional(Type.String()),
                force_path_style: Type.Optional(Type.Boolean()),
                access_key_id: Type.Optional(Type.String({ minLength: 1 })),
                secret_access_key: Type.Optional(Type.String({ minLength: 1 })),
                part_size_mb: Type.Optional(Type.Number({ minimum: 5, maximum: 5120 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    images: Type.Optional(
      Type.Object(
        {
          url_ttl_seconds: Type.Optional(Type.Integer({ minimum: 1 })),
          signing_secret: Type.Optional(Type.String({ minLength: 16 })),
          max_download_mb: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          /** Largest input image (edits, variations), width × height in millions of pixels; default 40. */
          max_input_megapixels: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 200 })),
          // gateway: signed /v1/files URLs; presigned: the S3 store's own presigned GET (needs storage.s3).
          url_mode: Type.Optional(Type.Union([Type.Literal('gateway'), Type.Literal('presigned')])),
        },
        { additionalProperties: false },
      ),
    ),
    offline: Type.Optional(
      Type.Object({ latency_ms: Type.Optional(Type.Integer({ minimum: 0 })) }, { additionalProperties: false }),
    ),
    network: Type.Optional(
      Type.Object(
        {
          allow_private_networks: Type.Optional(Type.Boolean()),
          /** Hosts channel traffic may reach on private addresses (besides the channels' own base URLs). */
          allow_hosts: Type.Optional(Type.Array(Type.String())),
          /** Hosts a URL from a request body (edit image URLs, callback_url) may name on private addresses. */
          user_url_allow_hosts: Type.Optional(Type.Array(Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    catalog: Type.Optional(
      Type.Object(
        {
          models: Type.Optional(Type.Array(Type.Object({ id: Type.String() }, { additionalProperties: true }))),
          aliases: Type.Optional(Type.Record(Type.String(), Type.String())),
        },
        { additionalProperties: false },
      ),
    ),
    channels: Type.Optional(Type.Array(ChannelSchema)),
    routing: Type.Optional(
      Type.Object(
        {
          max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
          breaker_failure_threshold: Type.Optional(Type.Integer({ minimum: 1 })),
          breaker_cooldown_ms: Type.Optional(Type.Integer({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    tasks: Type.Optional(
      Type.Object(
        {
          workers: Type.Optional(Type.Integer({ minimum: 1, maximum: 256, description: 'tasks whose upstream call runs at once per channel in this process' })),
          lease_ms: Type.Optional(Type.Integer({ minimum: 500 })),
          retention_hours: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          max_queued: Type.Optional(Type.Integer({ minimum: 1 })),
          sync_timeout_ms: Type.Optional(Type.Integer({ minimum: 1 })),
          max_input_mb: Type.Optional(Type.Integer({ minimum: 1, description: "megabytes of input images this process's running tasks hold in memory at once" })),
        },
        { additionalProperties: false },
      ),
    ),
    webhooks: Type.Optional(
      Type.Object(
        {
          secret: Type.Optional(Type.String({ pattern: '^whsec_[A-Za-z0-9+/=]{16,}$', description: 'whsec_ followed by base64 (at least 12 bytes)' })),
          max_attempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 })),
          retry_base_ms: Type.Optional(Type.Integer({ minimum: 1 })),
          /** One attempt's time limit; a delivery a crashed process held is retried after about twice this. */
          timeout_ms: Type.Optional(Type.Integer({ minimum: 100, maximum: 120_000 })),
        },
        { additionalProperties: false },
      ),
    ),
    retention: Type.Optional(
      Type.Object(
        {
          /** Request-log rows are deleted after this many days (default 30). */
          request_log_days: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
          /** The arithmetic (`detail`) of usage rows is dropped after this many days (default 90); the rows stay. */
          usage_detail_days: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    // Shared rate limits, concurrency slots and change notices between replicas (src/shared-state/).
    redis: Type.Optional(
      Type.Object(
        {
          url: Type.String({ pattern: '^rediss?://', description: 'a redis:// or rediss:// URL' }),
          prefix: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9:_.-]*$', description: 'letters, digits and : _ . -' })),
        },
        { additionalProperties: false },
      ),
    ),
    metrics: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          /** Scrapes send `Authorization: Bearer <token>`; default: the admin token. */
          token: Type.Optional(Type.String({ minLength: 16 })),
          /** Serve /metrics on this port (an admin listener) instead of the API port. */
          port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
          host: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    console: Type.Optional(
      Type.Object(
        {
          enabled: Type.Optional(Type.Boolean()),
          session_hours: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 720 })),
        },
        { additionalProperties: false },
      ),
    ),
    log_level: Type.Optional(Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)))),
  },
  { additionalProperties: false },
);

export type ConfigFile = Static<typeof ConfigFileSchema>;
export type ChannelConfig = Static<typeof ChannelSchema>;

/** Failover and circuit-breaker settings shared by every channel. */
export interface RoutingConfig {
  /** Upstream attempts per request, across channels. */
  maxAttempts: number;
  /** Consecutive retryable failures that open a channel's circuit. */
  breakerFailureThreshold: number;
  /** How long an open circuit rejects before one probe is let through. */
  breakerCooldownMs: number;
}

export interface AppConfig {
  port: number;
  host: string;
  /** Base of hosted-result URLs; when absent, the request's own scheme and host are used. */
  publicUrl: string | undefined;
  bodyLimitBytes: number;
  /** server.body_memory_mb: bytes of request bodies one process holds at once (src/http/body-budget.ts); its default when absent. */
  bodyMemoryBytes: number | undefined;
  /** Between SSE comment heartbeats on image streams, which keep proxies from closing long generations. */
  streamHeartbeatMs: number;
  /** server.workers: processes serving HTTP (1 = this process alone). */
  workers: number;
  /**
   * Proxies (addresses/CIDRs) whose X-Forwarded-For names the client: the client address is the
   * last one not in this list. Empty: the socket's peer is the client, whatever headers say.
   */
  trustProxy: string[];
  dataDir: string;
  /** `sqlite:<path>` or `postgres://…`; undefined: the SQLite file in the data dir. */
  databaseUrl: string | undefined;
  /** Connections in this process's PostgreSQL pool. */
  databaseMaxConnections: number;
  /** Send the PostgreSQL hot path's statements as named prepared statements (storage/postgres/prepared-statements.ts). */
  databasePreparedStatements: boolean;
  /** fsync each stored image before it becomes visible (durable across power loss, slower). */
  fsyncBlobs: boolean;
  /** Images in an S3-compatible bucket; undefined: on local disk under the data dir. */
  s3: S3Settings | undefined;
  /** Redis shared by the replicas; undefined: none (changes propagate by polling the database). */
  redis: RedisSettings | undefined;
  /** Hosted-result URLs: signed gateway links, or the S3 store's presigned GETs. */
  urlMode: 'gateway' | 'presigned';
  apiKeys: string[];
  adminToken: string | undefined;
  /** HMAC secret for signed URLs; when absent, one is generated and kept in the data dir. */
  signingSecret: string | undefined;
  /** AES-256 key (base64) encrypting upstream API keys at rest; when absent, secrets.key in the data dir. */
  secretsKey?: string | undefined;
  urlTtlSeconds: number;
  maxDownloadBytes: number;
  /** Largest input image in pixels (images.max_input_megapixels). */
  maxInputPixels: number;
  offlineLatencyMs: number;
  allowPrivateNetworks: boolean;
  /** Operator trust for channel traffic (network.allow_hosts); never applies to URLs from a request body. */
  allowHosts: string[];
  /** The separate allowlist for URLs from a request body (network.user_url_allow_hosts). */
  userUrlAllowHosts: string[];
  catalog: NonNullable<ConfigFile['catalog']>;
  channels: ChannelConfig[];
  /** Channels found from provider keys in the environment: name → the variables (names only). */
  detectedChannels?: Record<string, string>;
  routing: RoutingConfig;
  logLevel: string;
  /** Asynchronous tasks: workers, leases, retention, queue limit and the synchronous time limit. */
  tasks: TaskSettings;
  webhooks: WebhookSettings;
  /** How long the request log and usage arithmetic are kept. */
  retention: RetentionSettings;
  /** Where the config came from, for the start-up log. */
  configFile: string | undefined;
  /** Prometheus metrics (src/metrics). */
  metrics?: MetricsSettings;
  /** The web console at /console (src/console, console/). */
  console?: ConsoleSettings;
}

export interface MetricsSettings {
  enabled: boolean;
  /** Bearer token scrapes must send; undefined falls back to the admin token, and with neither /metrics is open only on a separate port. */
  token: string | undefined;
  /** A separate listener for /metrics (not on the API port) when set. */
  port: number | undefined;
  host: string;
}

export interface ConsoleSettings {
  enabled: boolean;
  sessionHours: number;
}

export interface S3Settings {
  bucket: string;
  region: string;
  endpoint: string | undefined;
  prefix: string;
  forcePathStyle: boolean;
  /** Both or neither; without them the AWS SDK's default credential chain applies. */
  credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
  partSizeBytes: number;
}

export interface RedisSettings {
  url: string;
  /** Put before every key and channel name, so several deployments (or tests) can share one Redis. */
  prefix: string;
}

export interface TaskSettings {
  /** Tasks one channel runs at once in this process. */
  workers: number;
  /** How long a claimed task stays with its worker without a heartbeat; heartbeats come every third of it. */
  leaseMs: number;
  /** Finished tasks, their images and idempotency records are deleted after this long. */
  retentionHours: number;
  /** Queued (not yet started) tasks one API key may have; more are refused with 429. */
  maxQueued: number;
  /** A synchronous request still running after this long becomes an asynchronous task. */
  syncTimeoutMs: number;
  /** Bytes of input images this process's running tasks hold in memory at once (tasks/input-budget.ts); 256 MB when absent. */
  maxInputBytes?: number;
}

export interface WebhookSettings {
  /** `whsec_<base64>`; when absent one is generated and kept in the data dir. */
  secret: string | undefined;
  /** Deliveries tried at most this many times. */
  maxAttempts: number;
  /** First retry delay; each later one doubles it. */
  retryBaseMs: number;
  /** One attempt's time limit (the receiver must answer within it). */
  timeoutMs?: number;
}

export interface RetentionSettings {
  /** Request-log rows older than this are deleted. */
  requestLogDays: number;
  /** Usage rows older than this lose their `detail` (the pricing arithmetic); amounts, tokens and sizes stay, since balances and /v1/usage rest on them. */
  usageDetailDays: number;
}
