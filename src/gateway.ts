// Assembles a whole gateway from a config: storage, providers, routing, services and the HTTP app.
// main.ts starts it; tests build it in-process on an ephemeral port.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { AppConfig } from './config/schema.js';
import { readCatalogFile } from './config/catalog-file.js';
import { createCatalog, type Catalog, type CatalogOverrides } from './core/catalog/catalog.js';
import { bootstrapKeys } from './core/api-keys.js';
import { createImageService } from './core/generate-images.js';
import { unmeteredBilling } from './core/ports/billing.js';
import { systemClock, type Clock } from './core/ports/clock.js';
import { unlimitedRateLimiter } from './core/ports/rate-limiter.js';
import { createUrlSigner } from './core/signed-urls.js';
import { buildApp } from './http/app.js';
import { createOfflineProvider } from './providers/offline/index.js';
import { defaultBaseUrls, upstreamProviders, type UpstreamProviderName } from './providers/registry.js';
import { createHttpClient } from './providers/shared/http-client.js';
import { createModelRouter, type ChannelDefinition, type ChannelRoutes } from './routing/model-router.js';
import { LocalBlobStore } from './storage/local-blob-store.js';
import { openSqliteDatabase } from './storage/sqlite/database.js';
import { SqliteKeyStore } from './storage/sqlite/key-store.js';
import { migrate } from './storage/sqlite/migrate.js';
import { SqliteRequestLog } from './storage/sqlite/request-log.js';
import { SqliteTaskStore } from './storage/sqlite/task-store.js';

export interface Gateway {
  app: FastifyInstance;
  catalog: Catalog;
  router: ChannelRoutes;
  logger: Logger;
  /** The secret of a key created on this first start, to be shown once. */
  bootstrapKey: string | undefined;
  tasks: SqliteTaskStore;
  close(): Promise<void>;
}

export interface GatewayOptions {
  clock?: Clock;
  logger?: Logger;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    // Secrets never reach the log, whatever object is logged.
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey', '*.api_key', 'apiKey', 'api_key', '*.headers["x-key"]', '*.headers["api-key"]'],
      censor: '[redacted]',
    },
  });
}

async function loadSigningSecret(config: AppConfig): Promise<string> {
  if (config.signingSecret) return config.signingSecret;
  // Generated once and kept beside the data, so links stay valid across restarts.
  const file = join(config.dataDir, 'signing.key');
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    const secret = randomBytes(32).toString('base64url');
    await writeFile(file, secret, { mode: 0o600, flag: 'wx' }).catch(async () => undefined);
    return (await readFile(file, 'utf8')).trim();
  }
}

export async function createGateway(config: AppConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });

  const catalog = createCatalog(readCatalogFile(), config.catalog as CatalogOverrides);
  const database = openSqliteDatabase({ file: join(dataDir, 'imagegate.sqlite') });
  await migrate(database.db);
  const keys = new SqliteKeyStore(database.db);
  const tasks = new SqliteTaskStore(database.db);
  const requestLog = new SqliteRequestLog(database.db, {
    onError: (error, context) => logger.error({ err: error, ...context }, 'request log write failed'),
  });
  const blobs = new LocalBlobStore({ directory: join(dataDir, 'blobs') });

  const channelHosts = config.channels.flatMap((channel) => (channel.base_url ? [new URL(channel.base_url).host] : []));
  const http = createHttpClient({
    allowPrivateNetworks: config.allowPrivateNetworks,
    allowHosts: [...config.allowHosts, ...channelHosts],
    maxBytes: config.maxDownloadBytes,
  });

  const channels: ChannelDefinition[] = config.channels.map((channel) => {
    const provider = channel.provider;
    const factory =
      provider === 'offline'
        ? createOfflineProvider({ latencyMs: config.offlineLatencyMs })
        : upstreamProviders[provider as UpstreamProviderName]({
            channel: channel.name,
            baseURL: (channel.base_url ?? defaultBaseUrls[provider as UpstreamProviderName]).replace(/\/+$/, ''),
            apiKey: channel.api_key ?? '',
            http,
            clock,
            pollIntervalMs: channel.poll_interval_ms,
            timeoutMs: channel.timeout_ms,
            options: channel.options,
          });
    return {
      name: channel.name,
      provider,
      models: channel.models,
      modelMap: channel.model_map ?? {},
      priority: channel.priority ?? 0,
      weight: channel.weight ?? 1,
      enabled: channel.enabled ?? true,
      factory,
    };
  });
  const router = createModelRouter({ catalog, channels, offline: createOfflineProvider({ latencyMs: config.offlineLatencyMs }) });
  const images = createImageService({ router, blobs, http, clock, maxDownloadBytes: config.maxDownloadBytes });
  const signer = createUrlSigner({ secret: await loadSigningSecret({ ...config, dataDir }), defaultTtlSeconds: config.urlTtlSeconds, clock });
  const bootstrapKey = await bootstrapKeys(keys, config.apiKeys, clock.now());

  const app = await buildApp({
    catalog,
    images,
    keys,
    requestLog,
    billing: unmeteredBilling,
    rateLimiter: unlimitedRateLimiter,
    blobs,
    signer,
    http,
    clock,
    logger,
    describeRoute: (modelId) => router.describe(modelId),
    checkReadiness: async () => {
      await keys.count();
      await blobs.ping();
    },
    settings: { publicUrl: config.publicUrl, bodyLimitBytes: config.bodyLimitBytes, maxImageBytes: 50 * 1024 * 1024 },
  });

  return {
    app,
    catalog,
    router,
    logger,
    bootstrapKey,
    tasks,
    async close() {
      await app.close();
      await requestLog.close();
      await http.close();
      await database.close();
    },
  };
}
