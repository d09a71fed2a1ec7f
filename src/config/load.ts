// Loads and validates configuration once at start: the YAML file (IMAGEGATE_CONFIG) and the
// environment. The only module that reads process.env. Errors name the bad key and what is expected.

import { readFileSync } from 'node:fs';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml } from 'yaml';
import { ConfigFileSchema, type AppConfig, type ConfigFile } from './schema.js';
import { detectChannels } from './channel-detection.js';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/** Replaces `${NAME}` in strings with the environment variable; a missing variable is an error. */
function expandEnv(value: unknown, env: Env, path: string): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined) throw new ConfigError(`'${path}': refers to the environment variable ${name}, which is not set; set it or write the value`);
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, index) => expandEnv(item, env, `${path}[${index}]`));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, expandEnv(item, env, path ? `${path}.${key}` : key)]));
  }
  return value;
}

function pointerToPath(pointer: string): string {
  return pointer
    .split('/')
    .filter(Boolean)
    .map((part) => (/^\d+$/.test(part) ? `[${part}]` : `.${part}`))
    .join('')
    .replace(/^\./, '');
}

export function parseConfigFile(text: string, env: Env, source: string): ConfigFile {
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`${source}: not valid YAML: ${(error as Error).message}`);
  }
  let expanded: unknown;
  try {
    expanded = expandEnv(raw, env, '');
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${source}: ${error.message}`);
    throw error;
  }
  if (!Value.Check(ConfigFileSchema, expanded)) {
    const first = Value.Errors(ConfigFileSchema, expanded).First();
    const where = first ? pointerToPath(first.path) || '(top level)' : '(unknown)';
    throw new ConfigError(`${source}: '${where}': ${first ? describeProblem(first) : 'invalid value'}`);
  }
  return expanded;
}

/** Says what was wrong and what is expected, in the config file's own terms. */
function describeProblem(error: ValueError): string {
  const schema = error.schema as { description?: string; properties?: Record<string, unknown>; anyOf?: Array<{ const?: unknown }> };
  if (error.type === ValueErrorType.ObjectAdditionalProperties) {
    return `unknown key; expected one of: ${Object.keys(schema.properties ?? {}).join(', ')}`;
  }
  if (error.type === ValueErrorType.ObjectRequiredProperty) return 'missing; this key is required';
  const literals = schema.anyOf?.every((member) => member.const !== undefined) ? schema.anyOf.map((member) => String(member.const)) : undefined;
  const expected = schema.description ?? (literals ? `one of ${literals.join(', ')}` : error.message.replace(/^Expected /, ''));
  // A secret given with the wrong type must not end up on the console.
  if (/key|secret|token|password/i.test(error.path)) return `expected ${expected}`;
  return `expected ${expected}, got ${JSON.stringify(error.value)?.slice(0, 80) ?? 'nothing'}`;
}

function isAddressOrCidr(text: string): boolean {
  if (ipaddr.isValid(text)) return true;
  try {
    ipaddr.parseCIDR(text);
    return true;
  } catch {
    return false;
  }
}

function integerFromEnv(env: Env, name: string, bounds: { min?: number; max?: number } = {}): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  const value = Number(text);
  const min = bounds.min ?? 0;
  const max = bounds.max ?? Number.MAX_SAFE_INTEGER;
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(`environment ${name}: expected a whole number from ${min} to ${max}, got '${text}'`);
  }
  return value;
}

function megabytesToBytes(megabytes: number | undefined): number | undefined {
  return megabytes === undefined ? undefined : megabytes * 1024 * 1024;
}

function booleanFromEnv(env: Env, name: string): boolean | undefined {
  const text = env[name]?.toLowerCase();
  if (text === undefined || text === '') return undefined;
  if (['1', 'true', 'yes'].includes(text)) return true;
  if (['0', 'false', 'no'].includes(text)) return false;
  throw new ConfigError(`environment ${name}: expected true or false, got '${env[name]}'`);
}

/** The database URL, checked for a scheme the storage knows (the rest is checked when it is opened). */
function databaseUrl(url: string | undefined): string | undefined {
  if (url === undefined || url === '') return undefined;
  if (/^sqlite:.+/.test(url)) return url;
  if (/^postgres(ql)?:\/\/.+/.test(url)) {
    let schema: string | null;
    try {
      schema = new URL(url).searchParams.get('schema');
    } catch {
      throw new ConfigError('IMAGEGATE_DATABASE_URL / database.url: not a valid postgres:// URL');
    }
    // Interpolated into search_path: only plain lower-case identifiers.
    if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
      throw new ConfigError(`IMAGEGATE_DATABASE_URL / database.url: schema '${schema}' must be lower-case letters, digits and _ (at most 63)`);
    }
    return url;
  }
  throw new ConfigError(`IMAGEGATE_DATABASE_URL / database.url: expected sqlite:<path> or postgres://user:password@host:port/database, got '${url.replace(/\/\/[^@/]*@/, '//…@')}'`);
}

/** Configured channels plus those found from provider keys in the environment (OPENAI_API_KEY …). */
function channelsWithDetected(env: Env, file: ConfigFile): Pick<AppConfig, 'channels' | 'detectedChannels'> {
  const { channels, detected } = detectChannels(env, file.channels ?? [], (message) => new ConfigError(message));
  return { channels, detectedChannels: detected };
}

/** storage.s3 with its IMAGEGATE_S3_* overrides; a bucket from either place turns S3 on. */
function s3Settings(env: Env, file: ConfigFile): AppConfig['s3'] {
  const section = file.storage?.s3;
  const bucket = env.IMAGEGATE_S3_BUCKET || section?.bucket;
  if (bucket === undefined) return undefined;
  const endpoint = env.IMAGEGATE_S3_ENDPOINT || section?.endpoint;
  if (endpoint !== undefined && !/^https?:\/\/[^/]+/.test(endpoint)) {
    throw new ConfigError(`IMAGEGATE_S3_ENDPOINT / storage.s3.endpoint: expected an absolute http(s) URL, got '${endpoint}'`);
  }
  const accessKeyId = env.IMAGEGATE_S3_ACCESS_KEY_ID || section?.access_key_id;
  const secretAccessKey = env.IMAGEGATE_S3_SECRET_ACCESS_KEY || section?.secret_access_key;
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new ConfigError('storage.s3: access_key_id and secret_access_key (IMAGEGATE_S3_ACCESS_KEY_ID / IMAGEGATE_S3_SECRET_ACCESS_KEY) go together; set both, or neither to use the AWS default credentials');
  }
  return {
    bucket,
    region: env.IMAGEGATE_S3_REGION || section?.region || 'us-east-1',
    endpoint,
    prefix: env.IMAGEGATE_S3_PREFIX ?? section?.prefix ?? '',
    forcePathStyle: booleanFromEnv(env, 'IMAGEGATE_S3_FORCE_PATH_STYLE') ?? section?.force_path_style ?? false,
    credentials: accessKeyId !== undefined && secretAccessKey !== undefined ? { accessKeyId, secretAccessKey } : undefined,
    partSizeBytes: Math.round((section?.part_size_mb ?? 8) * 1024 * 1024),
  };
}

function redisSettings(env: Env, file: ConfigFile): AppConfig['redis'] {
  const url = env.IMAGEGATE_REDIS_URL || file.redis?.url;
  if (url === undefined) return undefined;
  if (!/^rediss?:\/\/./.test(url)) throw new ConfigError("IMAGEGATE_REDIS_URL / redis.url: expected a redis:// or rediss:// URL");
  const prefix = env.IMAGEGATE_REDIS_PREFIX ?? file.redis?.prefix ?? 'imagegate:';
  if (!/^[A-Za-z0-9:_.-]*$/.test(prefix)) throw new ConfigError('IMAGEGATE_REDIS_PREFIX / redis.prefix: expected letters, digits and : _ . -');
  return { url, prefix };
}

function urlMode(env: Env, file: ConfigFile, s3: AppConfig['s3']): AppConfig['urlMode'] {
  const mode = env.IMAGEGATE_URL_MODE || file.images?.url_mode || 'gateway';
  if (mode !== 'gateway' && mode !== 'presigned') throw new ConfigError(`IMAGEGATE_URL_MODE / images.url_mode: expected gateway or presigned, got '${mode}'`);
  if (mode === 'presigned' && s3 === undefined) {
    throw new ConfigError('images.url_mode: presigned needs the images in S3 (storage.s3.bucket); local images are served by the gateway');
  }
  return mode;
}

export function loadConfig(env: Env = process.env): AppConfig {
  const configFile = env.IMAGEGATE_CONFIG || undefined;
  let file: ConfigFile = {};
  if (configFile) {
    let text: string;
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (error) {
      throw new ConfigError(`IMAGEGATE_CONFIG=${configFile}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    file = parseConfigFile(text, env, configFile);
  }
  const publicUrl = env.IMAGEGATE_PUBLIC_URL || file.server?.public_url;
  if (publicUrl !== undefined && !/^https?:\/\/[^/]+/.test(publicUrl)) {
    throw new ConfigError(`IMAGEGATE_PUBLIC_URL / server.public_url: expected an absolute http(s) URL, got '${publicUrl}'`);
  }
  const webhookSecret = env.IMAGEGATE_WEBHOOK_SECRET || file.webhooks?.secret;
  if (webhookSecret !== undefined && !/^whsec_[A-Za-z0-9+/=]{16,}$/.test(webhookSecret)) {
    throw new ConfigError('IMAGEGATE_WEBHOOK_SECRET / webhooks.secret: expected whsec_ followed by base64 (at least 12 bytes)');
  }
  const s3 = s3Settings(env, file);
  const trustProxy = env.IMAGEGATE_TRUST_PROXY !== undefined && env.IMAGEGATE_TRUST_PROXY !== ''
    ? env.IMAGEGATE_TRUST_PROXY.split(',').map((entry) => entry.trim()).filter(Boolean)
    : (file.server?.trust_proxy ?? []);
  for (const entry of trustProxy) {
    if (!isAddressOrCidr(entry)) throw new ConfigError(`IMAGEGATE_TRUST_PROXY / server.trust_proxy: expected IP addresses or CIDRs such as 10.0.0.0/8, got '${entry}'`);
  }
  const bodyLimitBytes = Math.round((file.server?.body_limit_mb ?? 64) * 1024 * 1024);
  // Absent: the HTTP layer's default (src/http/body-budget.ts).
  const bodyMemoryMb = integerFromEnv(env, 'IMAGEGATE_BODY_MEMORY_MB', { min: 1 }) ?? file.server?.body_memory_mb;
  const bodyMemoryBytes = bodyMemoryMb === undefined ? undefined : Math.round(bodyMemoryMb * 1024 * 1024);
  if (bodyMemoryBytes !== undefined && bodyMemoryBytes < bodyLimitBytes) {
    throw new ConfigError('IMAGEGATE_BODY_MEMORY_MB / server.body_memory_mb: must be at least server.body_limit_mb, or a body of the largest size allowed could never be read');
  }
  return {
    port: integerFromEnv(env, 'PORT', { max: 65535 }) ?? file.server?.port ?? 8080,
    host: env.HOST || file.server?.host || '127.0.0.1',
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    bodyLimitBytes,
    bodyMemoryBytes,
    streamHeartbeatMs: integerFromEnv(env, 'IMAGEGATE_STREAM_HEARTBEAT_MS', { min: 1 }) ?? file.server?.stream_heartbeat_ms ?? 15_000,
    workers: integerFromEnv(env, 'IMAGEGATE_WORKERS', { min: 1, max: 64 }) ?? file.server?.workers ?? 1,
    trustProxy,
    dataDir: env.IMAGEGATE_DATA_DIR || file.storage?.data_dir || './data',
    databaseUrl: databaseUrl(env.IMAGEGATE_DATABASE_URL || file.database?.url),
    databaseMaxConnections: integerFromEnv(env, 'IMAGEGATE_DATABASE_MAX_CONNECTIONS', { min: 1, max: 1000 }) ?? file.database?.max_connections ?? 10,
    databasePreparedStatements: booleanFromEnv(env, 'IMAGEGATE_DATABASE_PREPARED_STATEMENTS') ?? file.database?.prepared_statements ?? true,
    fsyncBlobs: file.storage?.fsync ?? false,
    s3,
    redis: redisSettings(env, file),
    urlMode: urlMode(env, file, s3),
    apiKeys: (env.IMAGEGATE_API_KEYS ?? '').split(',').map((key) => key.trim()).filter(Boolean),
    adminToken: env.IMAGEGATE_ADMIN_TOKEN || undefined,
    signingSecret: env.IMAGEGATE_SIGNING_SECRET || file.images?.signing_secret,
    secretsKey: env.IMAGEGATE_SECRETS_KEY || undefined,
    urlTtlSeconds: integerFromEnv(env, 'IMAGEGATE_URL_TTL_SECONDS', { min: 1 }) ?? file.images?.url_ttl_seconds ?? 3600,
    maxDownloadBytes: Math.round((file.images?.max_download_mb ?? 50) * 1024 * 1024),
    maxInputPixels: Math.round((file.images?.max_input_megapixels ?? 40) * 1_000_000),
    offlineLatencyMs: integerFromEnv(env, 'IMAGEGATE_OFFLINE_LATENCY_MS') ?? file.offline?.latency_ms ?? 0,
    allowPrivateNetworks: booleanFromEnv(env, 'IMAGEGATE_ALLOW_PRIVATE_NETWORKS') ?? file.network?.allow_private_networks ?? false,
    allowHosts: file.network?.allow_hosts ?? [],
    userUrlAllowHosts: file.network?.user_url_allow_hosts ?? [],
    catalog: file.catalog ?? {},
    ...channelsWithDetected(env, file),
    routing: {
      maxAttempts: file.routing?.max_attempts ?? 3,
      breakerFailureThreshold: file.routing?.breaker_failure_threshold ?? 5,
      breakerCooldownMs: file.routing?.breaker_cooldown_ms ?? 30_000,
    },
    logLevel: env.IMAGEGATE_LOG_LEVEL || file.log_level || 'info',
    tasks: {
      // A task's upstream call mostly waits on the provider (seconds to minutes for an image), so the
      // default lets many run per channel; a channel's own max_concurrency is the limit the provider sets.
      // With 4 (the earlier default) a channel's async tasks trailed its synchronous requests,
      // which have no such bound, and scenario 4 was held at ~330 tasks/s by it (docs/performance.md).
      workers: integerFromEnv(env, 'IMAGEGATE_TASK_WORKERS', { min: 1, max: 256 }) ?? file.tasks?.workers ?? 32,
      leaseMs: integerFromEnv(env, 'IMAGEGATE_TASK_LEASE_MS', { min: 500 }) ?? file.tasks?.lease_ms ?? 30_000,
      retentionHours: file.tasks?.retention_hours ?? 24,
      maxQueued: integerFromEnv(env, 'IMAGEGATE_TASK_MAX_QUEUED', { min: 1 }) ?? file.tasks?.max_queued ?? 1000,
      // Below the 100 s at which common proxies (Cloudflare, many load balancers) cut a request.
      syncTimeoutMs: integerFromEnv(env, 'IMAGEGATE_SYNC_TIMEOUT_MS', { min: 1 }) ?? file.tasks?.sync_timeout_ms ?? 90_000,
      // Absent: the task service's default (tasks/input-budget.ts).
      maxInputBytes: megabytesToBytes(integerFromEnv(env, 'IMAGEGATE_TASK_MAX_INPUT_MB', { min: 1 }) ?? file.tasks?.max_input_mb),
    },
    webhooks: {
      secret: webhookSecret,
      maxAttempts: file.webhooks?.max_attempts ?? 8,
      retryBaseMs: file.webhooks?.retry_base_ms ?? 5_000,
      timeoutMs: file.webhooks?.timeout_ms ?? 15_000,
    },
    retention: {
      requestLogDays: file.retention?.request_log_days ?? 30,
      usageDetailDays: file.retention?.usage_detail_days ?? 90,
    },
    configFile,
    metrics: {
      enabled: booleanFromEnv(env, 'IMAGEGATE_METRICS_ENABLED') ?? file.metrics?.enabled ?? true,
      token: env.IMAGEGATE_METRICS_TOKEN || file.metrics?.token,
      port: integerFromEnv(env, 'IMAGEGATE_METRICS_PORT', { max: 65535 }) ?? file.metrics?.port,
      host: file.metrics?.host ?? '127.0.0.1',
    },
    console: {
      enabled: booleanFromEnv(env, 'IMAGEGATE_CONSOLE_ENABLED') ?? file.console?.enabled ?? true,
      sessionHours: file.console?.session_hours ?? 12,
    },
  };
}
