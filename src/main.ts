// Composition root: reads config, builds the gateway, starts HTTP, and drains on SIGTERM.

import { loadConfig, ConfigError } from './config/load.js';
import { isClusterPrimary, isClusterWorker, runClusterPrimary, workerRateLimiter } from './cluster/workers.js';
import type { AppConfig } from './config/schema.js';
import { createGateway, createLogger, type Gateway } from './gateway.js';
import { StorageUnavailableError } from './storage/storage.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`imagegate: configuration error: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
  // server.workers > 1: this process is the cluster's primary (shared rate limits, workers' lives);
  // each worker runs the rest of main() as a whole gateway.
  if (config.workers > 1 && isClusterPrimary()) {
    await runClusterPrimary({ workers: config.workers, logger: createLogger(config.logLevel) });
    return;
  }
  const gateway = await createGateway(config, isClusterWorker() ? { rateLimiter: workerRateLimiter() } : {}).catch((error: unknown) => {
    if (error instanceof StorageUnavailableError) {
      process.stderr.write(`imagegate: cannot start: ${error.message}\n`);
      return process.exit(1);
    }
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`imagegate: configuration error: ${error.message}\n`);
    return process.exit(2);
  });
  const { app, logger } = gateway;
  let address: string;
  try {
    address = await app.listen({ port: config.port, host: config.host });
  } catch (error) {
    // The new key is stored already: a start that fails here (a port in use) must still show it,
    // or no later start ever will.
    if (gateway.bootstrapKey) {
      process.stdout.write(`\nNo API key existed, so imagegate created one. It is shown only this once; keep it:\n\n  ${gateway.bootstrapKey}\n\n`);
    }
    await gateway.close().catch(() => undefined);
    throw error;
  }
  const base = config.publicUrl ?? address.replace('://[::1]', '://localhost').replace('://127.0.0.1', '://localhost');

  const routes = describeRoutes(gateway, config);
  logger.info({ address, dataDir: config.dataDir, config: config.configFile ?? null, routes }, 'imagegate listening');
  for (const route of routes) logger.info({ route }, `${route.channel} (${route.provider}, ${route.source}) serves ${route.models.join(', ')}`);
  if (config.adminToken !== undefined && !(await gateway.hasApiKeys())) {
    logger.info('no API key exists yet: create one with `imagegate keys create` or POST /admin/v1/keys (the admin token is set, so none was made)');
  }

  if (gateway.bootstrapKey) {
    // Shown once: only its hash is stored.
    process.stdout.write(
      [
        '',
        'No API key existed, so imagegate created one. It is shown only this once; keep it:',
        '',
        `  ${gateway.bootstrapKey}`,
        '',
        'Try it:',
        '',
        `  curl -s ${base}/v1/images/generations \\`,
        `    -H "Authorization: Bearer ${gateway.bootstrapKey}" -H "Content-Type: application/json" \\`,
        `    -d '{"model":"gpt-image-1","prompt":"a lighthouse at sunset","size":"1024x1024"}' \\`,
        `    | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{require("fs").writeFileSync("image.png",Buffer.from(JSON.parse(s).data[0].b64_json,"base64"));console.log("wrote image.png")})'`,
        '',
      ].join('\n') + '\n',
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining in-flight requests');
    await gateway.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

interface RouteLine {
  channel: string;
  provider: string;
  source: string;
  models: string[];
}

/**
 * Which models go where: one entry per channel with every model it serves, failover channels
 * included (a model with three channels appears under all three), then the models nothing serves.
 * Where a channel came from is named by variable names, never keys.
 */
function describeRoutes(gateway: Gateway, config: AppConfig): RouteLine[] {
  const lines = new Map<string, RouteLine>();
  const add = (channel: string, provider: string, source: string, model: string) => {
    const line = lines.get(channel) ?? { channel, provider, source, models: [] };
    line.models.push(model);
    lines.set(channel, line);
  };
  const sourceOf = (channel: string): string => {
    const detectedFrom = config.detectedChannels?.[channel];
    return detectedFrom !== undefined ? `from ${detectedFrom}` : 'configured';
  };
  for (const model of gateway.catalog.list()) {
    const candidates = gateway.router.routes(model);
    for (const [position, candidate] of candidates.entries()) {
      add(candidate.channel, candidate.provider, sourceOf(candidate.channel), position === 0 ? model.id : `${model.id} (failover ${position + 1})`);
    }
    if (candidates.length > 0) continue;
    const { channel, routed } = gateway.router.describe(model.id);
    if (channel === 'offline') add('offline', 'offline', 'built-in offline engine (no channels configured)', model.id);
    else add('none', 'none', routed ? 'no enabled channel' : 'not served: no channel lists it', model.id);
  }
  return [...lines.values()];
}

main().catch((error: unknown) => {
  process.stderr.write(`imagegate: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
