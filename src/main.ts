// Composition root: reads config, builds the gateway, starts HTTP, and drains on SIGTERM.

import { loadConfig, ConfigError } from './config/load.js';
import { clusterLimiters, isClusterPrimary, isClusterWorker, runClusterPrimary } from './cluster/workers.js';
import { createGateway, createLogger } from './gateway.js';
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
  const gateway = await createGateway(config, isClusterWorker() ? { rateLimitStore: clusterLimiters } : {}).catch((error: unknown) => {
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

  // Which models go where: one entry per channel, with where the channel came from (variable names, never keys).
  const routes = new Map<string, { channel: string; provider: string; source: string; models: string[] }>();
  for (const model of gateway.catalog.list()) {
    const { provider, channel } = gateway.router.describe(model.id);
    const detectedFrom = config.detectedChannels?.[channel];
    const source = detectedFrom !== undefined ? `from ${detectedFrom}` : channel === 'offline' ? 'built-in offline engine' : channel === 'none' ? 'no enabled channel' : 'configured';
    const entry = routes.get(channel) ?? { channel, provider, source, models: [] };
    entry.models.push(model.id);
    routes.set(channel, entry);
  }
  logger.info({ address, dataDir: config.dataDir, config: config.configFile ?? null, routes: [...routes.values()] }, 'imagegate listening');
  for (const route of routes.values()) logger.info({ route }, `${route.channel} (${route.provider}, ${route.source}) serves ${route.models.join(', ')}`);

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

main().catch((error: unknown) => {
  process.stderr.write(`imagegate: failed to start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
