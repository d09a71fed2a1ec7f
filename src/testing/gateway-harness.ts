// Starts a whole gateway in-process on an ephemeral port with a temporary data dir, for tests
// that talk to it over real HTTP.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../config/load.js';
import type { AppConfig } from '../config/schema.js';
import { createGateway, type Gateway, type GatewayOptions } from '../gateway.js';

export interface TestGateway {
  /** e.g. http://127.0.0.1:40123 */
  url: string;
  /** A valid API key (from IMAGEGATE_API_KEYS). */
  apiKey: string;
  gateway: Gateway;
  config: AppConfig;
  dataDir: string;
  /** Closes the gateway; a connection still busy after graceMs is cut (tests never wait out a production drain). */
  close(graceMs?: number): Promise<void>;
}

export const testApiKey = 'sk-test-0123456789abcdef';

export async function startTestGateway(
  overrides: Partial<AppConfig> = {},
  options: GatewayOptions & { env?: Record<string, string> } = {},
): Promise<TestGateway> {
  const dataDir = overrides.dataDir ?? (await mkdtemp(join(tmpdir(), 'imagegate-test-')));
  const base = loadConfig({ IMAGEGATE_API_KEYS: testApiKey, ...options.env });
  const config: AppConfig = { ...base, port: 0, host: '127.0.0.1', dataDir, allowPrivateNetworks: true, logLevel: 'silent', ...overrides };
  const gateway = await createGateway(config, { logger: pino({ level: config.logLevel }), ...options });
  const address = await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url: address,
    apiKey: testApiKey,
    gateway,
    config,
    dataDir,
    async close(graceMs = 2_000) {
      // A response a test left unread (fetch without consuming the body) keeps its request in flight; with
      // the production grace of 30 s that outlasted vitest's hook timeout.
      await gateway.close(graceMs);
      if (!overrides.dataDir) await rm(dataDir, { recursive: true, force: true });
    },
  };
}
