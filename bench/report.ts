// The benchmark's output: a table for people (also pasted into docs/performance.md) and JSON files
// under bench/results/ (a timestamped one and latest.json).

import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchmarkReport } from './harness.js';
import { formatHostSpeed } from './host-speed.js';
import { productionNodeFlags } from './processes.js';
import type { ScenarioResult } from './scenario.js';

const megabyte = 1024 * 1024;

const rate = (value: number | undefined) => (value === undefined ? '–' : Math.round(value).toLocaleString('en-US'));
const percent = (value: number | undefined) => (value === undefined ? '–' : `${(value * 100).toFixed(1)}%`);
const milliseconds = (value: number | undefined) => (value === undefined ? '–' : `${value >= 0 ? '+' : ''}${value.toFixed(1)} ms`);
const plainMilliseconds = (value: number | undefined) => (value === undefined ? '–' : `${value.toFixed(1)} ms`);
const memory = (bytes: number | undefined) => (bytes === undefined ? '–' : `${Math.round(bytes / megabyte)} MB`);

function targetsText(result: ScenarioResult): string {
  if (result.targets.length === 0) return '–';
  const figure = (value: number | undefined) => (value === undefined || !Number.isFinite(value) ? '–' : Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2));
  return result.targets.map((target) => `${target.met === undefined ? '?' : target.met ? 'met' : 'MISSED'}: ${target.goal} = ${figure(target.value)}`).join('; ');
}

function row(result: ScenarioResult, withPortkey: boolean): string[] {
  const onPostgres = result.postgres !== undefined && 'tasksPerSecond' in result.postgres ? ` (PostgreSQL ${rate(result.postgres.tasksPerSecond)})` : '';
  const requestsOnPostgres = result.postgresRequests !== undefined && 'requestsPerSecond' in result.postgresRequests ? ` (PostgreSQL ${rate(result.postgresRequests.requestsPerSecond)})` : '';
  const gatewayRate =
    result.status !== 'measured' ? result.status : result.tasksPerSecond !== undefined ? `${rate(result.tasksPerSecond)} tasks/s${onPostgres}` : `${rate(result.gateway?.requestsPerSecond)}${requestsOnPostgres}`;
  const cells = [
    String(result.id),
    result.title,
    String(result.connections),
    rate(result.direct?.requestsPerSecond),
    gatewayRate,
    percent(result.ratio),
    milliseconds(result.addedLatencyMs?.p50),
    milliseconds(result.addedLatencyMs?.p99),
    memory(result.peakRssBytes),
    plainMilliseconds(result.eventLoopDelayMs?.p99),
    result.cpuMsPerRequest === undefined ? '–' : `${result.cpuMsPerRequest.gateway.toFixed(2)} ms`,
    result.referenceRelay === undefined ? '–' : `${rate(result.referenceRelay.requestsPerSecond)} (${percent(result.referenceRelay.ratio)})`,
  ];
  if (withPortkey) {
    const portkey = result.portkey;
    cells.push(portkey && 'requestsPerSecond' in portkey ? `${rate(portkey.requestsPerSecond)} (${percent(portkey.ratio)})` : '–');
  }
  cells.push(targetsText(result));
  return cells;
}

/** A Markdown table with the notes that explain it. */
export function formatReport(report: BenchmarkReport): string {
  const withPortkey = report.portkey.compared;
  const header = [
    '#',
    'scenario',
    'conns',
    'direct req/s',
    'imagegate req/s',
    'ratio',
    'added p50',
    'added p99',
    'peak RSS',
    'event loop p99',
    'imagegate CPU/req',
    'bare relay req/s (ratio)',
    ...(withPortkey ? ['Portkey req/s (ratio)'] : []),
    'targets',
  ];
  const rows = report.scenarios.map((result) => row(result, withPortkey));
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((cells) => (cells[column] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const lines = [line(header), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...rows.map(line)];

  const notes: string[] = [];
  for (const result of report.scenarios) {
    if (result.addedLatencyMs) notes.push(`${result.id}: latency added measured at ${rate(result.addedLatencyMs.atRequestsPerSecond)} req/s for both sides.`);
    if (result.note) notes.push(`${result.id}: ${result.note}`);
  }
  if (report.portkey.note) notes.push(`Portkey: ${report.portkey.note}`);
  notes.push(
    report.rateLimits === 'on'
      ? 'imagegate ran with auth, validation, routing, billing, the request log and per-key rate limits (set far above the load) on every request.'
      : 'imagegate ran with auth, validation, routing, billing and the request log on every request; per-key rate limits were not available in this build.',
  );
  notes.push(
    `imagegate ran ${report.options.runtime === 'compiled' ? 'compiled (npm run build, plain node, as in production)' : 'from its TypeScript sources under the tsx loader'}` +
      ` with node ${productionNodeFlags.join(' ')} as the production commands run it (the reference relays with node's defaults)` +
      (report.idleRssBytes === undefined ? '.' : `; RSS once started, before any load: ${memory(report.idleRssBytes)}.`),
  );
  const machine = report.machine;
  notes.push(
    'CPU/req: CPU time imagegate spent per answered request (user + system, from /proc), steadier than req/s when other processes share the CPUs, though a contended host slows it too (host speed, below).',
  );
  notes.push(
    'bare relay: Fastify + undici forwarding the same request to the same upstream and nothing else (bench/reference-relay.ts), under the same load: the most a Node relay reaches on this machine.',
  );
  if (report.scenarios.some((result) => result.durableRelay)) {
    notes.push(
      'minimal durable relay: the bare relay plus exactly the billing guarantees (bench/relay-ledger.ts: a reservation on disk before the upstream call, the charge and a usage row on disk before the answer, group-committed in SQLite WAL): the floor of those guarantees on this machine.',
    );
  }
  for (const result of report.scenarios) {
    if (result.referenceRelay) notes.push(`${result.id}: the bare relay spent ${result.referenceRelay.cpuMsPerRequest.toFixed(2)} ms CPU per request.`);
    if (result.durableRelay) {
      notes.push(`${result.id}: the minimal durable relay spent ${result.durableRelay.cpuMsPerRequest.toFixed(2)} ms CPU per request at ${rate(result.durableRelay.requestsPerSecond)} req/s.`);
    }
  }
  notes.push(
    `machine: ${machine.cpus} CPUs (${machine.cpuModel}), ${Math.round(machine.memoryBytes / megabyte / 1024)} GB, Node ${machine.node}, ${machine.platform}; ` +
      `${report.options.durationSeconds} s of load per scenario, slow upstream holds ${report.options.slowMs} ms; ` +
      `load average ${machine.loadAverageAtStart.map((value) => value.toFixed(1)).join(' ')} at the start` +
      ((machine.loadAverageAtStart[0] ?? 0) > machine.cpus ? ` (above ${machine.cpus}: other work shared the CPUs, so req/s are low and noisy; CPU/req is steadier).` : '.'),
  );
  notes.push(
    `host speed: a fixed loop (bench/host-speed.ts) took ${formatHostSpeed(machine.hostSpeed.atStart)} at the start and ${formatHostSpeed(machine.hostSpeed.atEnd)} at the end; ` +
      'compare it across runs: when it is slower or spread, the host was slowing every process, CPU time per request included (a busy sibling of a virtual CPU shows no steal time).',
  );
  return `${lines.join('\n')}\n\n${notes.map((note) => `- ${note}`).join('\n')}\n`;
}

/** Writes `<directory>/<timestamp>.json` and `<directory>/latest.json`; returns the timestamped path. */
export async function writeReport(report: BenchmarkReport, directory: string): Promise<string> {
  await mkdir(directory, { recursive: true });
  const text = `${JSON.stringify(report, null, 2)}\n`;
  const file = join(directory, `${report.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z')}.json`);
  await writeFile(file, text);
  await writeFile(join(directory, 'latest.json'), text);
  return file;
}
