// Runs the benchmark: starts the fake upstream (and Portkey when installed), a fresh imagegate per
// scenario, runs the chosen scenarios and gathers their figures into one report.

import { cpus, loadavg, totalmem } from 'node:os';
import { ensureCompiledGateway, type GatewayRuntime } from './gateway-build.js';
import { measureHostSpeed, type HostSpeed } from './host-speed.js';
import { locatePortkey, startPortkey, type PortkeyProcess } from './portkey.js';
import { createBenchSchema, type BenchSchema } from './postgres.js';
import { repositoryRoot, startGatewayProcess, startReferenceRelayProcess, startUpstreamProcess, type GatewayProcess, type UpstreamProcess } from './processes.js';
import type { ScenarioResult } from './scenario.js';
import { benchChannels, scenarios } from './scenarios/index.js';

export interface BenchmarkOptions {
  /** Scenario numbers to run, in this order. */
  scenarios: number[];
  /** Seconds of load per scenario, shared among its phases. */
  durationSeconds: number;
  /** How long the slow upstream of scenario 5 holds each answer. */
  slowMs: number;
  /** Runs imagegate from another checkout (see startGatewayProcess); unset = this one. */
  gatewayRoot?: string;
  /** Compiled JavaScript (as production runs; rebuilt when stale) or the sources under tsx. */
  runtime: GatewayRuntime;
  /** Where a CPU profile of imagegate's measured phase of each scenario goes; unset = not profiled. */
  profileDirectory?: string;
  /**
   * A fresh imagegate per scenario (default), so each peak RSS is that scenario's own; one shared
   * process starts faster (the smoke test).
   */
  gatewayPerScenario: boolean;
  /**
   * A PostgreSQL server (URL) on which the scenarios that compare backends (4) also run, in a fresh
   * schema made for this run and dropped at its end; unset = SQLite only.
   */
  postgresServer?: string;
  log: (line: string) => void;
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  memoryBytes: number;
  node: string;
  platform: string;
  /** 1, 5 and 15-minute load averages when the run began: above `cpus`, other work competed for the CPUs. */
  loadAverageAtStart: number[];
  /** A fixed loop's time when the run began and ended (host-speed.ts): slower or spread, the host was slowing every process. */
  hostSpeed: { atStart: HostSpeed; atEnd: HostSpeed };
}

export interface BenchmarkReport {
  startedAt: string;
  finishedAt: string;
  options: { scenarios: number[]; durationSeconds: number; slowMs: number; gatewayRoot?: string; runtime: GatewayRuntime; postgres: 'on' | 'off' };
  /** imagegate's RSS once started, before any load (the first scenario's process). */
  idleRssBytes?: number;
  machine: MachineFacts;
  portkey: { compared: boolean; note?: string };
  /** Whether the benchmark key carried per-key rate limits (the limiter ran on every request). */
  rateLimits: 'on' | 'not available';
  scenarios: ScenarioResult[];
}

/** Scenarios that also measure the bare reference relay. */
const relayedByReference = new Set([1, 2, 6, 7, 9]);
/** Scenarios that also measure the minimal durable relay (the floor of the billing guarantees). */
const relayedByDurable = new Set([6, 7]);
/** Scenarios that also run on PostgreSQL when the run has a server. */
const comparedOnPostgres = new Set([4, 6]);

export const defaultOptions: Omit<BenchmarkOptions, 'log'> = {
  scenarios: scenarios.map((scenario) => scenario.id),
  durationSeconds: 15,
  slowMs: 2000,
  runtime: 'compiled',
  gatewayPerScenario: true,
};

/** A server URL as it may be printed: without its password. */
function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured URL';
  }
}

export function machineFacts(loadAverageAtStart: number[], hostSpeed: MachineFacts['hostSpeed']): MachineFacts {
  const processors = cpus();
  return {
    cpus: processors.length,
    cpuModel: processors[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    loadAverageAtStart,
    hostSpeed,
  };
}

export async function runBenchmark(options: BenchmarkOptions): Promise<BenchmarkReport> {
  const startedAt = new Date().toISOString();
  const loadAverageAtStart = loadavg();
  const speedAtStart = measureHostSpeed();
  const chosen = options.scenarios.map((id) => {
    const scenario = scenarios.find((candidate) => candidate.id === id);
    if (!scenario) throw new RangeError(`no scenario ${id}; there are ${scenarios.map((candidate) => candidate.id).join(', ')}`);
    return scenario;
  });

  if (options.runtime === 'compiled') await ensureCompiledGateway(options.gatewayRoot ?? repositoryRoot, options.log);
  options.log('starting the fake upstream');
  const upstream = await startUpstreamProcess({ slowMs: options.slowMs });
  let portkey: PortkeyProcess | undefined;
  let referenceRelay: UpstreamProcess | undefined;
  let durableRelay: UpstreamProcess | undefined;
  let shared: GatewayProcess | undefined;
  const results: ScenarioResult[] = [];
  let rateLimited = false;
  let idleRssBytes: number | undefined;
  const gatewayChoice = { runtime: options.runtime, ...(options.gatewayRoot === undefined ? {} : { gatewayRoot: options.gatewayRoot }) };
  let postgres: BenchSchema | { unavailable: string } | undefined;
  const located = locatePortkey();
  let portkeyNote = 'skipped' in located ? located.skipped : undefined;
  try {
    if ('script' in located && chosen.some((scenario) => scenario.id === 1 || scenario.id === 2)) {
      options.log('starting Portkey');
      portkey = await startPortkey(located.script, upstream.origin).catch((error: unknown) => {
        portkeyNote = `Portkey could not be started, so the comparison was skipped: ${error instanceof Error ? error.message : String(error)}`;
        return undefined;
      });
    }
    if (chosen.some((scenario) => relayedByReference.has(scenario.id))) {
      options.log('starting the bare reference relay');
      referenceRelay = await startReferenceRelayProcess(upstream.origin);
    }
    if (chosen.some((scenario) => relayedByDurable.has(scenario.id))) {
      options.log('starting the minimal durable relay');
      durableRelay = await startReferenceRelayProcess(upstream.origin, { durable: true });
    }
    if (options.postgresServer !== undefined && chosen.some((scenario) => comparedOnPostgres.has(scenario.id))) {
      postgres = await createBenchSchema(options.postgresServer).catch((error: unknown) => ({
        unavailable: `PostgreSQL at ${redactPassword(options.postgresServer ?? '')} could not be reached: ${error instanceof Error ? error.message : String(error)}`,
      }));
      options.log('forScenario' in postgres ? `PostgreSQL schemas ${postgres.schema}_s<scenario> for this run` : postgres.unavailable);
    }
    for (const scenario of chosen) {
      options.log(`scenario ${scenario.id}: ${scenario.title}`);
      let gateway: GatewayProcess | undefined;
      try {
        gateway = shared ?? (await startGatewayProcess({ upstreamOrigin: upstream.origin, channels: benchChannels, ...gatewayChoice }));
        if (!options.gatewayPerScenario) shared = gateway;
        rateLimited = gateway.rateLimited;
        idleRssBytes ??= gateway.idleRssBytes;
        const result = await scenario.run({
          upstream,
          gateway,
          portkey: scenario.id === 1 || scenario.id === 2 ? portkey : undefined,
          referenceRelay,
          durableRelay,
          gatewayChoice,
          durationSeconds: options.durationSeconds,
          slowMs: options.slowMs,
          ...(options.profileDirectory === undefined ? {} : { profileDirectory: options.profileDirectory }),
          ...(postgres === undefined || !comparedOnPostgres.has(scenario.id) ? {} : { postgres: 'forScenario' in postgres ? { databaseUrl: postgres.forScenario(scenario.id) } : postgres }),
          log: (line) => options.log(`  ${line}`),
        });
        if (!result.portkey && (scenario.id === 1 || scenario.id === 2) && portkeyNote) result.portkey = { skipped: portkeyNote };
        results.push(result);
      } catch (error) {
        const logged = gateway?.recentErrors() ?? [];
        const message = `${error instanceof Error ? error.message : String(error)}${logged.length > 0 ? `; imagegate logged: ${logged.join(' ')}` : ''}`;
        options.log(`  scenario ${scenario.id} failed: ${message}`);
        results.push({ id: scenario.id, title: scenario.title, connections: scenario.connections, status: 'failed', note: message, targets: [] });
      } finally {
        if (gateway && gateway !== shared) await gateway.close();
      }
    }
  } finally {
    await shared?.close();
    await portkey?.close();
    await referenceRelay?.close();
    await durableRelay?.close();
    await upstream.close();
    if (postgres !== undefined && 'drop' in postgres) {
      await postgres.drop().catch((error: unknown) => options.log(`could not drop PostgreSQL schema ${postgres && 'schema' in postgres ? postgres.schema : ''}: ${String(error)}`));
    }
  }
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    options: {
      scenarios: options.scenarios,
      durationSeconds: options.durationSeconds,
      slowMs: options.slowMs,
      ...(options.gatewayRoot === undefined ? {} : { gatewayRoot: options.gatewayRoot }),
      runtime: options.runtime,
      postgres: options.postgresServer === undefined ? 'off' : 'on',
    },
    ...(idleRssBytes === undefined ? {} : { idleRssBytes }),
    machine: machineFacts(loadAverageAtStart, { atStart: speedAtStart, atEnd: measureHostSpeed() }),
    portkey: { compared: portkey !== undefined, ...(portkeyNote === undefined ? {} : { note: portkeyNote }) },
    rateLimits: rateLimited ? 'on' : 'not available',
    scenarios: results,
  };
}
