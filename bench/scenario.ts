// What a benchmark scenario is, what it reports, and the measurement shared by the relay scenarios:
// the same request direct to the upstream and through imagegate, at full load and at half load.

import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runLoad, runLoadAnswered, type LoadResult, type LoadTarget } from './load.js';
import { cpuSecondsOf, type GatewayProcess, type UpstreamProcess } from './processes.js';
import type { PortkeyProcess } from './portkey.js';
import type { GatewayRuntime } from './gateway-build.js';

export interface ScenarioContext {
  upstream: UpstreamProcess;
  gateway: GatewayProcess;
  /** Present when @portkey-ai/gateway is installed and started. */
  portkey: PortkeyProcess | undefined;
  /** The bare relay of bench/reference-relay.ts, for the scenarios it can serve (1, 2, 6, 7, 9). */
  referenceRelay: UpstreamProcess | undefined;
  /** The minimal durable relay (bench/reference-relay.ts --data-dir): the floor of the billing guarantees (scenario 6). */
  durableRelay: UpstreamProcess | undefined;
  /** How the run starts imagegate, for scenarios that start another one (workers). */
  gatewayChoice: { runtime: GatewayRuntime; gatewayRoot?: string };
  /** Seconds of load this scenario may spend, shared among its phases. */
  durationSeconds: number;
  /** How long the slow upstream holds each answer. */
  slowMs: number;
  /** When set, imagegate's measured phase is CPU-profiled into `<dir>/scenario-<id>.cpuprofile`. */
  profileDirectory?: string;
  /**
   * For scenarios compared across backends: the run's PostgreSQL schema (`database.url` for a second
   * imagegate), or why there is none. Absent: the run is SQLite only (`--postgres off`).
   */
  postgres?: { databaseUrl: string } | { unavailable: string };
  log: (line: string) => void;
}

export interface TargetCheck {
  /** e.g. "ratio ≥ 40%". */
  goal: string;
  value: number | undefined;
  met: boolean | undefined;
}

export interface SideFigures {
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  succeeded: number;
  failed: number;
  failedStatuses: Record<string, number>;
}

export interface ScenarioResult {
  id: number;
  title: string;
  connections: number;
  /** `not available`: the gateway lacks the API the scenario needs; `failed`: it could not be measured. */
  status: 'measured' | 'not available' | 'failed';
  note?: string;
  direct?: SideFigures;
  gateway?: SideFigures;
  /** imagegate's rate over the direct rate (tasks/s over direct req/s for the async scenario). */
  ratio?: number;
  /** imagegate's latency minus the upstream's, both at the same fixed rate. */
  addedLatencyMs?: { p50: number; p99: number; atRequestsPerSecond: number };
  peakRssBytes?: number;
  eventLoopDelayMs?: { p50: number; p99: number; max: number };
  /**
   * CPU milliseconds per answered request: the upstream's while served directly, imagegate's own
   * while relaying. Steady on a busy machine, where req/s are not.
   */
  cpuMsPerRequest?: { upstream: number; gateway: number };
  tasksPerSecond?: number;
  /** The same scenario with imagegate on PostgreSQL, in the same run (scenario 4). */
  postgres?: { tasksPerSecond: number; cpuMsPerTask: number; succeeded: number; failed: number } | { unavailable: string };
  /**
   * The same request with imagegate on PostgreSQL, in the same run (scenario 6; no target): its rate,
   * its CPU per request, and the PostgreSQL server's when the server runs on this machine.
   */
  postgresRequests?: { requestsPerSecond: number; cpuMsPerRequest: number; serverCpuMsPerRequest?: number; failed: number } | { unavailable: string };
  portkey?: { requestsPerSecond: number; ratio: number; failed: number } | { skipped: string };
  /** The bare Fastify + undici relay under the same load: the most a Node relay gets on this machine. */
  referenceRelay?: ReferenceFigures;
  /** The minimal relay with imagegate's billing guarantees under the same load: their floor. */
  durableRelay?: ReferenceFigures;
  /** Scenario 9: the bare relay as one process and as 2 cluster workers, back to back. */
  referenceScaling?: { oneRequestsPerSecond: number; twoRequestsPerSecond: number; times: number };
  targets: TargetCheck[];
}

/** A reference relay's figures: its rate, that rate over direct, its CPU per answered request. */
export interface ReferenceFigures {
  requestsPerSecond: number;
  ratio: number;
  cpuMsPerRequest: number;
}

export interface Scenario {
  id: number;
  title: string;
  connections: number;
  run(context: ScenarioContext): Promise<ScenarioResult>;
}

export const sideFigures = (result: LoadResult): SideFigures => ({
  requestsPerSecond: result.requestsPerSecond,
  latencyMs: result.latencyMs,
  succeeded: result.succeeded,
  failed: result.failed,
  failedStatuses: result.failedStatuses,
});

export const check = (goal: string, value: number | undefined, passes: (value: number) => boolean): TargetCheck => ({
  goal,
  value,
  met: value === undefined || !Number.isFinite(value) ? undefined : passes(value),
});

export function jsonPost(url: string, body: unknown, apiKey: string): LoadTarget {
  return {
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(body),
  };
}

/** Splits a scenario's seconds: warm-ups are short, the measured phases get the rest. */
export function phaseSeconds(total: number, share: number, minimum = 0.2): number {
  return Math.max(minimum, Math.round(total * share * 10) / 10);
}

export interface RelayMeasurement {
  direct: LoadResult;
  gateway: LoadResult;
  halfDirect: LoadResult;
  halfGateway: LoadResult;
  portkey?: LoadResult;
  reference?: { result: LoadResult; cpuMsPerRequest: number };
  durable?: { result: LoadResult; cpuMsPerRequest: number };
  peakRssBytes: number;
  eventLoopDelayMs: { p50: number; p99: number; max: number };
  cpuMsPerRequest: { upstream: number; gateway: number };
}

/** Runs imagegate's measured phase, CPU-profiled when the run asked for profiles. */
export async function profiled<T>(context: ScenarioContext, scenarioId: number | string, phase: () => Promise<T>, gateway: GatewayProcess = context.gateway): Promise<T> {
  const directory = context.profileDirectory;
  if (directory === undefined) return phase();
  await mkdir(directory, { recursive: true });
  await gateway.startProfile();
  try {
    return await phase();
  } finally {
    await gateway.stopProfile(join(directory, `scenario-${scenarioId}.cpuprofile`));
  }
}

/** Runs `phase` and returns its result with the CPU milliseconds `pid` spent per successful request. */
export async function withCpuCost(pid: number, phase: () => Promise<LoadResult>): Promise<{ result: LoadResult; cpuMsPerRequest: number }> {
  const before = await cpuSecondsOf(pid);
  const result = await phase();
  const spent = (await cpuSecondsOf(pid)) - before;
  return { result, cpuMsPerRequest: result.succeeded > 0 ? (spent * 1000) / result.succeeded : 0 };
}

/** One slice of an alternating phase: its load result and the CPU seconds its process spent. */
interface Slice {
  result: LoadResult;
  cpuSeconds: number;
}

/** Slices of a phase measured separately, as one: rates over their summed time, the worst p99. */
function mergeSlices(slices: Slice[]): { result: LoadResult; cpuMsPerRequest: number } {
  const succeeded = slices.reduce((sum, slice) => sum + slice.result.succeeded, 0);
  const durationSeconds = slices.reduce((sum, slice) => sum + slice.result.durationSeconds, 0);
  const failedStatuses: Record<string, number> = {};
  for (const slice of slices) for (const [status, count] of Object.entries(slice.result.failedStatuses)) failedStatuses[status] = (failedStatuses[status] ?? 0) + count;
  const p50s = slices.map((slice) => slice.result.latencyMs.p50).sort((a, b) => a - b);
  const cpuSeconds = slices.reduce((sum, slice) => sum + slice.cpuSeconds, 0);
  return {
    result: {
      requestsPerSecond: durationSeconds > 0 ? succeeded / durationSeconds : 0,
      latencyMs: {
        p50: p50s[Math.floor(p50s.length / 2)] ?? 0,
        p99: Math.max(...slices.map((slice) => slice.result.latencyMs.p99)),
        max: Math.max(...slices.map((slice) => slice.result.latencyMs.max)),
      },
      succeeded,
      failed: slices.reduce((sum, slice) => sum + slice.result.failed, 0),
      failedStatuses,
      durationSeconds,
    },
    cpuMsPerRequest: succeeded > 0 ? (cpuSeconds * 1000) / succeeded : 0,
  };
}

/** Rounds of alternating imagegate / reference relay slices (see measureRelay). */
const alternatingRounds = 3;

/**
 * Direct, then through imagegate, each after a short warm-up (connections opened, code optimised);
 * then both again at half of imagegate's rate, where latency is the service's own and not queueing.
 *
 * With reference relays to compare against (the bare one; the durable one too where asked), imagegate's
 * full-load phase and the relays' run in alternating slices (imagegate, bare, durable, imagegate …),
 * each side's figures summed over its slices: on a shared machine whose load changes by the minute,
 * two phases run one after the other can see different machines, and their ratio then measures the
 * load, not the relays.
 */
export async function measureRelay(
  context: ScenarioContext,
  options: { scenarioId: number; direct: LoadTarget; gateway: LoadTarget; portkey?: LoadTarget; reference?: LoadTarget; durable?: LoadTarget; connections: number },
): Promise<RelayMeasurement> {
  const total = context.durationSeconds;
  const warm = phaseSeconds(total, 0.1);
  // At least a second: on a loaded machine a 2 MB request can take most of one, and a shorter phase
  // (the smoke test's) would then end before any answer arrived.
  const full = phaseSeconds(total, 0.3, 1);
  const half = phaseSeconds(total, 0.1);
  const connections = options.connections;

  context.log(`direct upstream, ${connections} connections, ${full} s`);
  await runLoad(options.direct, { connections, durationSeconds: warm });
  const direct = await withCpuCost(context.upstream.pid, () => runLoadAnswered(options.direct, { connections, durationSeconds: full }));

  // The reference relays this scenario compares with, each measured in the slices between imagegate's.
  const references: Array<{ name: 'reference' | 'durable'; target: LoadTarget; pid: number; slices: Slice[] }> = [];
  if (context.referenceRelay && options.reference) references.push({ name: 'reference', target: options.reference, pid: context.referenceRelay.pid, slices: [] });
  if (context.durableRelay && options.durable) references.push({ name: 'durable', target: options.durable, pid: context.durableRelay.pid, slices: [] });
  const measured: { reference?: { result: LoadResult; cpuMsPerRequest: number }; durable?: { result: LoadResult; cpuMsPerRequest: number } } = {};
  let gateway: { result: LoadResult; cpuMsPerRequest: number };
  await runLoad(options.gateway, { connections, durationSeconds: warm });
  if (references.length > 0) {
    const slice = Math.max(1, Math.round((full / alternatingRounds) * 10) / 10);
    context.log(`imagegate and the ${references.map((reference) => reference.name).join(' and ')} relay in turn, ${alternatingRounds} × ${slice} s each, ${connections} connections`);
    for (const reference of references) await runLoad(reference.target, { connections, durationSeconds: warm });
    await context.gateway.resetMeasurements();
    const gatewaySlices: Slice[] = [];
    const measureSlice = async (target: LoadTarget, pid: number): Promise<Slice> => {
      const before = await cpuSecondsOf(pid);
      const result = await runLoadAnswered(target, { connections, durationSeconds: slice });
      return { result, cpuSeconds: (await cpuSecondsOf(pid)) - before };
    };
    await profiled(context, options.scenarioId, async () => {
      for (let round = 0; round < alternatingRounds; round += 1) {
        gatewaySlices.push(await measureSlice(options.gateway, context.gateway.pid));
        for (const reference of references) reference.slices.push(await measureSlice(reference.target, reference.pid));
      }
    });
    gateway = mergeSlices(gatewaySlices);
    for (const reference of references) measured[reference.name] = mergeSlices(reference.slices);
  } else {
    context.log(`through imagegate, ${connections} connections, ${full} s`);
    await context.gateway.resetMeasurements();
    gateway = await profiled(context, options.scenarioId, () =>
      withCpuCost(context.gateway.pid, () => runLoadAnswered(options.gateway, { connections, durationSeconds: full })),
    );
  }

  // Half of imagegate's own rate: a fixed rate for both sides, so the difference is what imagegate adds.
  const rate = Math.max(1, Math.round(gateway.result.requestsPerSecond / 2));
  context.log(`latency at ${rate} req/s, ${half} s each`);
  const halfDirect = await runLoadAnswered(options.direct, { connections, durationSeconds: half, overallRate: rate });
  const halfGateway = await runLoadAnswered(options.gateway, { connections, durationSeconds: half, overallRate: rate });
  const peakRssBytes = await context.gateway.peakRssBytes();
  const probe = await context.gateway.probe();

  let portkey: LoadResult | undefined;
  if (options.portkey) {
    context.log(`through Portkey, ${connections} connections, ${full} s`);
    await runLoad(options.portkey, { connections, durationSeconds: warm });
    portkey = await runLoad(options.portkey, { connections, durationSeconds: full });
  }
  return {
    direct: direct.result,
    gateway: gateway.result,
    cpuMsPerRequest: { upstream: direct.cpuMsPerRequest, gateway: gateway.cpuMsPerRequest },
    halfDirect,
    halfGateway,
    ...(portkey ? { portkey } : {}),
    ...measured,
    peakRssBytes,
    eventLoopDelayMs: { p50: probe.eventLoopDelayMs.p50, p99: probe.eventLoopDelayMs.p99, max: probe.eventLoopDelayMs.max },
  };
}

/** The common figures of a relay scenario, targets added by the scenario. */
export function relayResult(scenario: Scenario, measured: RelayMeasurement, targets: (result: ScenarioResult) => TargetCheck[]): ScenarioResult {
  const ratio = measured.direct.requestsPerSecond > 0 ? measured.gateway.requestsPerSecond / measured.direct.requestsPerSecond : undefined;
  const result: ScenarioResult = {
    id: scenario.id,
    title: scenario.title,
    connections: scenario.connections,
    status: 'measured',
    direct: sideFigures(measured.direct),
    gateway: sideFigures(measured.gateway),
    ...(ratio === undefined ? {} : { ratio }),
    addedLatencyMs: {
      p50: measured.halfGateway.latencyMs.p50 - measured.halfDirect.latencyMs.p50,
      p99: measured.halfGateway.latencyMs.p99 - measured.halfDirect.latencyMs.p99,
      atRequestsPerSecond: Math.round(measured.gateway.requestsPerSecond / 2),
    },
    peakRssBytes: measured.peakRssBytes,
    eventLoopDelayMs: measured.eventLoopDelayMs,
    cpuMsPerRequest: measured.cpuMsPerRequest,
    targets: [],
  };
  if (measured.portkey) {
    result.portkey = {
      requestsPerSecond: measured.portkey.requestsPerSecond,
      ratio: measured.direct.requestsPerSecond > 0 ? measured.portkey.requestsPerSecond / measured.direct.requestsPerSecond : 0,
      failed: measured.portkey.failed,
    };
  }
  const referenceFigures = (reference: { result: LoadResult; cpuMsPerRequest: number }): ReferenceFigures => ({
    requestsPerSecond: reference.result.requestsPerSecond,
    ratio: measured.direct.requestsPerSecond > 0 ? reference.result.requestsPerSecond / measured.direct.requestsPerSecond : 0,
    cpuMsPerRequest: reference.cpuMsPerRequest,
  });
  if (measured.reference) result.referenceRelay = referenceFigures(measured.reference);
  if (measured.durable) result.durableRelay = referenceFigures(measured.durable);
  const failures = measured.gateway.failed + measured.halfGateway.failed;
  if (failures > 0) result.note = `imagegate answered ${failures} requests with errors: ${JSON.stringify({ ...measured.gateway.failedStatuses })}`;
  result.targets = targets(result);
  return result;
}
