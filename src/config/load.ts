// Loads and validates configuration once at start: the YAML file (IMAGEGATE_CONFIG) and the
// environment. The only module that reads process.env. Errors name the bad key and what is expected.

import { readFileSync } from 'node:fs';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { ConfigFileSchema, type AppConfig, type ConfigFile } from './schema.js';

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
      if (found === undefined) throw new ConfigError(`config ${path}: environment variable ${name} is not set`);
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
  const expanded = expandEnv(raw, env, '');
  if (!Value.Check(ConfigFileSchema, expanded)) {
    const first = [...Value.Errors(ConfigFileSchema, expanded)][0];
    const where = first ? pointerToPath(first.path) || '(top level)' : '(unknown)';
    const schemaInfo = first?.schema as { description?: string } | undefined;
    const expected = schemaInfo?.description ?? first?.message ?? 'a valid value';
    const unknownKey = first?.message.includes('Unexpected property') ? ` (unknown key)` : '';
    throw new ConfigError(`${source}: '${where}'${unknownKey}: ${expected}`);
  }
  return expanded;
}

function integerFromEnv(env: Env, name: string): number | undefined {
  const text = env[name];
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) throw new ConfigError(`environment ${name}: expected a whole number, got '${text}'`);
  return Number(text);
}

function booleanFromEnv(env: Env, name: string): boolean | undefined {
  const text = env[name]?.toLowerCase();
  if (text === undefined || text === '') return undefined;
  if (['1', 'true', 'yes'].includes(text)) return true;
  if (['0', 'false', 'no'].includes(text)) return false;
  throw new ConfigError(`environment ${name}: expected true or false, got '${env[name]}'`);
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
  return {
    port: integerFromEnv(env, 'PORT') ?? file.server?.port ?? 8080,
    host: env.HOST || file.server?.host || '127.0.0.1',
    publicUrl: publicUrl?.replace(/\/+$/, ''),
    bodyLimitBytes: Math.round((file.server?.body_limit_mb ?? 64) * 1024 * 1024),
    dataDir: env.IMAGEGATE_DATA_DIR || file.storage?.data_dir || './data',
    apiKeys: (env.IMAGEGATE_API_KEYS ?? '').split(',').map((key) => key.trim()).filter(Boolean),
    adminToken: env.IMAGEGATE_ADMIN_TOKEN || undefined,
    signingSecret: env.IMAGEGATE_SIGNING_SECRET || file.images?.signing_secret,
    urlTtlSeconds: integerFromEnv(env, 'IMAGEGATE_URL_TTL_SECONDS') ?? file.images?.url_ttl_seconds ?? 3600,
    maxDownloadBytes: Math.round((file.images?.max_download_mb ?? 50) * 1024 * 1024),
    offlineLatencyMs: integerFromEnv(env, 'IMAGEGATE_OFFLINE_LATENCY_MS') ?? file.offline?.latency_ms ?? 0,
    allowPrivateNetworks: booleanFromEnv(env, 'IMAGEGATE_ALLOW_PRIVATE_NETWORKS') ?? file.network?.allow_private_networks ?? false,
    allowHosts: file.network?.allow_hosts ?? [],
    catalog: file.catalog ?? {},
    channels: file.channels ?? [],
    logLevel: env.IMAGEGATE_LOG_LEVEL || file.log_level || 'info',
    configFile,
  };
}
