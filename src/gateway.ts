// Assembles a whole gateway from a config: storage, providers, routing, services and the HTTP app.
// main.ts starts it; tests build it in-process on an ephemeral port.

import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { AppConfig } from './config/schema.js';
import { ConfigError } from './config/load.js';
import { readCatalogFile } from './config/catalog-file.js';
import { createCatalog, type Catalog, type CatalogOverrides } from './core/catalog/catalog.js';
import { bootstrapKeys } from './core/api-keys.js';
import { createImageService } from './core/generate-images.js';
import { systemClock, type Clock } from './core/ports/clock.js';
import { createUrlSigner } from './core/signed-urls.js';
import { createCredentialGuard } from './admin/credential-guard.js';
import { registerAdminApi } from './admin/index.js';
import fastifyCookie from '@fastify/cookie';
import Fastify from 'fastify';
import { registerConsole } from './console/serve.js';
import { createSessionKeyResolver, createSessionService } from './console/sessions.js';
import { createMetrics } from './metrics/index.js';
import { withLedgerTimeline, withTaskTimeline } from './tasks/task-events.js';
import { readPriceFile } from './billing/price-file.js';
import { PriceOverrides } from './billing/price-overrides.js';
import type { BillingStore } from './core/ports/billing-store.js';
import type { TaskStore } from './core/ports/task-store.js';
import { createUsageEstimator } from './billing/usage-estimate.js';
import { startReservationUpkeep } from './billing/reservation-upkeep.js';
import { registerUsageRoute } from './http/routes/usage.js';
import { createKeyRateLimiter, memoryLimiters } from './ratelimit/key-rate-limiter.js';
import type { RateLimiter } from './core/ports/rate-limiter.js';
import { BodyBudget } from './http/body-budget.js';
import { buildApp } from './http/app.js';
import { createOfflineProvider } from './providers/offline/index.js';
import { defaultBaseUrls, upstreamProviders, type UpstreamProviderName } from './providers/registry.js';
import type { ResolvedAddress } from './providers/shared/http-client.js';
import { createOutboundClients } from './providers/shared/outbound-policies.js';
import type { RandomSource } from './routing/channel-order.js';
import { createChannelRegistry, type ChannelRegistry } from './routing/channel-registry.js';
import { openStorage, parseDatabaseUrl } from './storage/open-storage.js';
import { announcingChannelStore, announcingKeyStore } from './shared-state/announcing-stores.js';
import { openSharedState } from './shared-state/scale-out.js';
import { createResultLinks } from './core/result-links.js';
import { readinessChecks } from './http/routes/health.js';
import { createAsyncServices, type AsyncServices } from './tasks/async-services.js';
import { DialectRenderers } from './tasks/dialect-renderers.js';
import { readOrCreateKeyFile } from './secrets/key-file.js';
import { secureDataDir, secureDatabaseFiles } from './secrets/permissions.js';
import { createSecretBox, generateSecretsKey, type SecretBox } from './secrets/secret-box.js';
import type { GatewayMetrics } from './metrics/index.js';

export interface Gateway {
  app: FastifyInstance;
  catalog: Catalog;
  /** The channels (admin API: list, create, update, test …), also the router of every image request. */
  router: ChannelRegistry;
  logger: Logger;
  /** The secret of a key created on this first start, to be shown once. */
  bootstrapKey: string | undefined;
  /** Whether any API key exists (with an admin token set, none is created on a first start). */
  hasApiKeys(): Promise<boolean>;
  tasks: TaskStore;
  /** Prometheus registry (tests read it); undefined when metrics are off. */
  metrics: GatewayMetrics | undefined;
  /** The separate /metrics listener, when metrics.port is set. */
  metricsApp: FastifyInstance | undefined;
  /** Task workers, webhooks, idempotency keys and retention (src/tasks/async-services.ts). */
  taskRuntime: AsyncServices;
  /** Balances, top-ups and usage rows (the admin API's, and tests' view of the books). */
  billing: BillingStore;
  /** Drains in-flight requests for up to graceMs, then cuts remaining connections and closes storage. */
  close(graceMs?: number): Promise<void>;
}

/** How often each process re-reads operators' price changes made through another process. */
const priceRefreshMs = 5_000;

export interface GatewayOptions {
  clock?: Clock;
  /** Per-key rate limits counted outside this process (the cluster's primary); a configured Redis takes precedence. */
  rateLimiter?: RateLimiter;
  /** Draws among channels of equal priority; tests pass a seeded one. */
  random?: RandomSource;
  logger?: Logger;
  /** Name resolution of both outbound clients; tests fake DNS answers with it. */
  resolveHost?: (hostname: string) => Promise<readonly ResolvedAddress[]>;
}

export function createLogger(level: string): Logger {
  return pino({
    level,
    // Secrets never reach the log, whatever object is logged.
    redact: {
      paths: ['req.headers.authorization', 'headers.authorization', '*.apiKey', '*.api_key', 'apiKey', 'api_key', '*.headers["x-key"]', '*.headers["api-key"]', '*.headers["mj-api-secret"]'],
      censor: '[redacted]',
    },
  });
}

/** Catalog overrides and channels are configuration: their errors stop the start like any config error (exit 2). */
function asConfigError<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    throw new ConfigError(`configuration: ${error instanceof Error ? error.message : String(error)}`);
  }
}

async function loadSigningSecret(config: AppConfig): Promise<string> {
  if (config.signingSecret) return config.signingSecret;
  // Generated once and kept beside the data, so links stay valid across restarts.
  return readOrCreateKeyFile(join(config.dataDir, 'signing.key'), () => randomBytes(32).toString('base64url'));
}

/** The key that encrypts upstream API keys and clients' webhook secrets in the database: IMAGEGATE_SECRETS_KEY, or secrets.key beside signing.key. */
async function loadSecretBox(config: AppConfig): Promise<SecretBox> {
  const keyText = config.secretsKey ?? (await readOrCreateKeyFile(join(config.dataDir, 'secrets.key'), generateSecretsKey));
  try {
    return createSecretBox(keyText);
  } catch (error) {
    throw new ConfigError(`IMAGEGATE_SECRETS_KEY / secrets.key: ${(error as Error).message}`);
  }
}

export async function createGateway(config: AppConfig, options: GatewayOptions = {}): Promise<Gateway> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.logLevel);
  const dataDir = resolve(config.dataDir);
  await secureDataDir(dataDir);

  const catalog = asConfigError(() => createCatalog(readCatalogFile(), config.catalog as CatalogOverrides));
  const location = asConfigError(() => parseDatabaseUrl(config.databaseUrl, dataDir));
  // The embedded database holds key hashes, upstream keys and balances: 0600 whatever the umask.
  if (location.backend === 'sqlite') await secureDatabaseFiles(location.file);
  // Upstream keys and clients' webhook secrets are encrypted at rest with the secrets key (beside signing.key, or IMAGEGATE_SECRETS_KEY).
  const secrets = await loadSecretBox({ ...config, dataDir });
  const storage = await openStorage({ databaseUrl: config.databaseUrl, databaseMaxConnections: config.databaseMaxConnections, databasePreparedStatements: config.databasePreparedStatements, dataDir, fsyncBlobs: config.fsyncBlobs, s3: config.s3 }, { clock, logger, secrets });
  const { requestLog, blobs, taskEvents, insights } = storage;
  // Every task's timeline (queued → started → submitted → polled → stored) is recorded as the store is written.
  const tasks = withTaskTimeline(storage.tasks, taskEvents, {
    clock,
    onError: (error) => logger.warn({ err: error }, 'task timeline write failed'),
  });
  const shared = await openSharedState(config, storage.changeVersions, logger).catch(async (error: unknown) => {
    await storage.close();
    throw error;
  });
  if (config.s3 !== undefined) {
    // A bucket that cannot be written stops the start, as an unreachable Redis does, instead of failing every image later.
    await blobs.ping().catch(async (error: unknown) => {
      await shared.close();
      await storage.close();
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw new ConfigError(`storage.s3: cannot write to the bucket '${config.s3?.bucket}'${config.s3?.endpoint ? ` at ${config.s3.endpoint}` : ''} (${reason})`);
    });
  }
  const announceFailed = (error: unknown) => logger.warn({ err: error, event: 'change_announcement_failed' }, 'a change could not be announced to the other processes; they see it at their next poll');
  // Writes through these announce themselves, so the other processes drop cached keys and rebuild channels.
  const keys = announcingKeyStore(storage.keys, shared.feed, announceFailed);
  const prices = await PriceOverrides.open(storage.prices, readPriceFile(), clock);
  const billing = storage.billing(prices.book);
  // Rows written before encryption (an older version) are sealed now.
  const sealed = (await storage.channels.sealStoredKeys?.()) ?? 0;
  if (sealed > 0) logger.info({ channels: sealed }, 'encrypted the upstream API keys of channels stored before encryption');
  const sealedWebhooks = (await storage.webhooks.sealStoredSecrets?.()) ?? 0;
  if (sealedWebhooks > 0) logger.info({ deliveries: sealedWebhooks }, "encrypted the webhook secrets of clients' deliveries stored before encryption");
  // Replicas sharing the database see each other's price changes within this long.
  const priceRefresh = setInterval(() => {
    prices.refresh().catch((error: unknown) => logger.error({ err: error }, 'refreshing prices from the database failed'));
  }, priceRefreshMs);
  priceRefresh.unref();
  // The lease is taken before anything is served; the sweep returns what crashed processes held.
  const reservationUpkeep = await startReservationUpkeep({
    billing,
    leaseMs: config.tasks.leaseMs,
    heldLongerThanMs: config.tasks.syncTimeoutMs + config.tasks.leaseMs,
    logger,
  });

  const channelHosts = config.channels.flatMap((channel) => (channel.base_url ? [new URL(channel.base_url).host] : []));
  // Channels added at run time are as trusted as those in the file: their hosts are asked live.
  let router: ChannelRegistry | undefined;
  // Two policies, two clients: operator trust for channel traffic, public-only for URLs from request bodies.
  const outbound = createOutboundClients({
    allowPrivateNetworks: config.allowPrivateNetworks,
    channelAllowHosts: [...config.allowHosts, ...channelHosts],
    isChannelHost: (url) => router?.isChannelHost(url) ?? false,
    userUrlAllowHosts: config.userUrlAllowHosts,
    maxBytes: config.maxDownloadBytes,
    ...(options.resolveHost === undefined ? {} : { resolveHost: options.resolveHost }),
  });
  const http = outbound.channelTraffic;

  const offline = createOfflineProvider({ latencyMs: config.offlineLatencyMs });
  router = await createChannelRegistry({
    store: announcingChannelStore(storage.channels, shared.feed, announceFailed),
    ...(shared.slots === undefined ? {} : { sharedSlots: shared.slots }),
    catalog,
    clock,
    logger,
    http,
    routing: config.routing,
    seed: config.channels,
    fallback: offline,
    ...(options.random === undefined ? {} : { random: options.random }),
    buildProvider: (channel, apiKey) =>
      channel.provider === 'offline'
        ? offline
        : upstreamProviders[channel.provider as UpstreamProviderName]({
            channel: channel.name,
            baseURL: (channel.baseUrl ?? defaultBaseUrls[channel.provider as UpstreamProviderName]).replace(/\/+$/, ''),
            apiKey,
            http,
            clock,
            pollIntervalMs: channel.pollIntervalMs ?? undefined,
            timeoutMs: channel.timeoutMs ?? undefined,
            options: channel.options,
          }),
  });
  const metricsSettings = config.metrics ?? { enabled: true, token: undefined, port: undefined, host: '127.0.0.1' };
  const bodyBudget = BodyBudget.forSettings(config.bodyMemoryBytes, config.bodyLimitBytes);
  const metrics = metricsSettings.enabled
    ? createMetrics({ insights, channels: router, token: metricsSettings.token ?? config.adminToken, bodyBytesHeld: () => bodyBudget.heldBytes })
    : undefined;
  const images = createImageService({ router: metrics ? metrics.observeRouter(router) : router, blobs, http, clock, maxDownloadBytes: config.maxDownloadBytes, estimateUsage: createUsageEstimator(prices.book) });
  const signer = createUrlSigner({ secret: await loadSigningSecret({ ...config, dataDir }), defaultTtlSeconds: config.urlTtlSeconds, clock });
  const redis = shared.redis;
  const links = createResultLinks({ mode: config.urlMode, signer, blobs, ttlSeconds: config.urlTtlSeconds });
  // With an admin token the operator makes keys through the admin API or CLI: no unlimited key is
  // created, and none is printed into journald or container logs.
  const bootstrapKey = await bootstrapKeys(keys, config.apiKeys, clock.now(), { createIfNone: config.adminToken === undefined });
  const dialectRenderers = new DialectRenderers();
  // A task's submission and its success, each one transaction with its charge (the store's task ledger),
  // on the same timeline as the task store's writes.
  const ledger = withLedgerTimeline(billing.taskLedger, { clock });
  const taskRuntime = await createAsyncServices({
    ledger,
    ...{ dataDir, tasks: config.tasks, webhooks: config.webhooks, store: tasks, idempotencyStore: storage.idempotency, webhookStore: storage.webhooks, dialectRenderers },
    history: { retention: config.retention, requestLog, usage: billing },
    ...{ images, router, catalog, blobs, billing, clock, logger, userUrls: outbound.userUrls, links },
  });

  const sessionStore = storage.sessions;
  const sessions = createSessionService({ store: sessionStore, keys, clock, adminToken: config.adminToken, ttlMs: (config.console?.sessionHours ?? 12) * 60 * 60 * 1000 });
  const consoleEnabled = config.console?.enabled ?? true;

  const app = await buildApp({
    bodyBudget,
    ...(consoleEnabled ? { sessionKey: createSessionKeyResolver(sessions, keys, clock) } : {}),
    catalog,
    images,
    keys,
    requestLog,
    billing,
    rateLimiter:
      shared.limiters !== undefined
        ? createKeyRateLimiter({ limiters: shared.limiters, ...(shared.slots === undefined ? {} : { slots: shared.slots }) })
        : (options.rateLimiter ?? createKeyRateLimiter({ clock })),
    blobs,
    signer,
    userUrls: outbound.userUrls,
    links,
    clock,
    logger,
    describeRoute: (modelId) => router.describe(modelId),
    checkReadiness: readinessChecks({
      database: () => storage.pingDatabase(),
      'image storage': () => blobs.ping(),
      ...(redis === undefined ? {} : { redis: () => redis.client.ping() }),
    }),
    tasks: taskRuntime.tasks,
    idempotency: taskRuntime.idempotency,
    webhooks: taskRuntime.webhooks,
    scopedWebhookSecret: taskRuntime.scopedWebhookSecret,
    dialectRenderers,
    settings: { publicUrl: config.publicUrl, bodyLimitBytes: config.bodyLimitBytes, maxImageBytes: 50 * 1024 * 1024, maxInputPixels: config.maxInputPixels, streamHeartbeatMs: config.streamHeartbeatMs, trustProxy: config.trustProxy },
  });

  registerUsageRoute(app, { usage: billing });
  // Cookies are parsed only where a session is read (hook: false): the image API's hot path pays nothing.
  await app.register(fastifyCookie, { hook: false });
  if (metrics) metrics.register(app, { route: metricsSettings.port === undefined });
  let metricsApp: FastifyInstance | undefined;
  if (metrics && metricsSettings.port !== undefined) {
    metricsApp = Fastify({ loggerInstance: logger }) as unknown as FastifyInstance;
    metrics.serve(metricsApp);
    await metricsApp.listen({ port: metricsSettings.port, host: metricsSettings.host });
  }
  await registerAdminApi(app, {
    ...{ token: config.adminToken, keys, billing, prices, requestLog, channels: router, catalog, clock },
    credentialGuard: createCredentialGuard(shared.limiters ?? memoryLimiters),
    ...{ audit: storage.audit, sessions, sessionStore, insights, tasks, taskEvents, blobs, signer },
    ...{ taskService: taskRuntime.tasks, webhooks: taskRuntime.webhooks },
    retention: { imagesAndTasksHours: config.tasks.retentionHours, requestLogDays: config.retention.requestLogDays, usageDetailDays: null },
  });

  // Changes made by other processes (admin API on another replica): drop cached keys, rebuild channels.
  shared.feed.subscribe((topic) => {
    if (topic === 'keys') app.forgetCachedKeys();
    else void router.reload().catch((error: unknown) => logger.error({ err: error, event: 'channel_reload_failed' }, 'could not apply channel changes from the store'));
  });
  if (consoleEnabled) await registerConsole(app);
  // Workers start with the gateway: tasks queued before a restart (or left by a dead process) are picked up at once.
  taskRuntime.start();

  return {
    app,
    catalog,
    router,
    logger,
    bootstrapKey,
    hasApiKeys: async () => (await keys.count()) > 0,
    tasks,
    metrics,
    metricsApp,
    taskRuntime,
    billing,
    async close(graceMs = 30_000) {
      // Drain in-flight requests, but never wait forever on a client that holds a connection
      // open without sending a request: after the grace period every connection is cut.
      const forced = setTimeout(() => app.server.closeAllConnections(), graceMs);
      forced.unref();
      await app.close();
      await metricsApp?.close();
      clearTimeout(forced);
      clearInterval(priceRefresh);
      await taskRuntime.close();
      await reservationUpkeep.stop();
      await outbound.close();
      await storage.close();
    },
  };
}
