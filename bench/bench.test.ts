// Smoke test of the benchmark harness: a 2-second run of every scenario against real processes,
// asserting only that the figures exist and are sane. Never a timing threshold: speed is what the
// benchmark reports, not what the test suite judges.

import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBenchmark, type BenchmarkReport } from './harness.js';
import { formatReport, writeReport } from './report.js';

let report: BenchmarkReport;
let outputDirectory: string;

beforeAll(async () => {
  outputDirectory = await mkdtemp(join(tmpdir(), 'imagegate-bench-test-'));
  report = await runBenchmark({
    scenarios: [1, 2, 3, 4, 5, 6],
    durationSeconds: 2,
    // A shorter hold keeps scenario 5 within its 2 seconds; one gateway for all scenarios starts once.
    slowMs: 300,
    gatewayPerScenario: false,
    // The sources under tsx: a build first would take longer than the test (the bench itself runs the build).
    runtime: 'tsx',
    log: () => undefined,
  });
}, 120_000);

afterAll(async () => {
  await rm(outputDirectory, { recursive: true, force: true });
});

const finiteAtLeast = (value: number | undefined, minimum: number) => {
  expect(value).toBeTypeOf('number');
  expect(Number.isFinite(value)).toBe(true);
  expect(value).toBeGreaterThanOrEqual(minimum);
};

describe('npm run bench, 2 seconds per scenario', () => {
  it('measures every scenario, or says the async API is not there', () => {
    expect(report.scenarios.map((result) => result.id)).toEqual([1, 2, 3, 4, 5, 6]);
    for (const result of report.scenarios) {
      expect({ id: result.id, status: result.status, note: result.note }).toMatchObject({ status: result.id === 4 ? expect.stringMatching(/^(measured|not available)$/) : 'measured' });
    }
  });

  it('gives each measured scenario positive rates, a ratio, latencies, CPU per request and a peak RSS in bounds', () => {
    for (const result of report.scenarios.filter((candidate) => candidate.status === 'measured')) {
      finiteAtLeast(result.direct?.requestsPerSecond, Number.MIN_VALUE);
      finiteAtLeast(result.gateway?.requestsPerSecond, Number.MIN_VALUE);
      finiteAtLeast(result.ratio, Number.MIN_VALUE);
      finiteAtLeast(result.gateway?.latencyMs.p50, 0);
      expect(result.gateway?.latencyMs.p99).toBeGreaterThanOrEqual(result.gateway?.latencyMs.p50 ?? Infinity);
      finiteAtLeast(result.cpuMsPerRequest?.gateway, Number.MIN_VALUE);
      // A Node process with the gateway loaded holds tens of megabytes; none of these loads needs gigabytes.
      expect(result.peakRssBytes).toBeGreaterThan(20 * 1024 * 1024);
      expect(result.peakRssBytes).toBeLessThan(4 * 1024 * 1024 * 1024);
      finiteAtLeast(result.eventLoopDelayMs?.p99, 0);
      expect(result.targets.length).toBeGreaterThan(0);
    }
    for (const id of [1, 2, 3, 6]) {
      const result = report.scenarios.find((candidate) => candidate.id === id);
      expect(Number.isFinite(result?.addedLatencyMs?.p99)).toBe(true);
      expect(result?.addedLatencyMs?.atRequestsPerSecond).toBeGreaterThan(0);
    }
    // Scenario 6 also measures the minimal durable relay, the floor of the billing guarantees.
    const small = report.scenarios.find((candidate) => candidate.id === 6);
    finiteAtLeast(small?.durableRelay?.requestsPerSecond, Number.MIN_VALUE);
    finiteAtLeast(small?.durableRelay?.cpuMsPerRequest, Number.MIN_VALUE);
    expect(small?.note).toMatch(/minimal durable relay .* ms/);
    const async = report.scenarios.find((candidate) => candidate.id === 4);
    if (async?.status === 'measured') finiteAtLeast(async.tasksPerSecond, Number.MIN_VALUE);
  });

  it('notes the skipped Portkey comparison, whether rate limits ran, and the machine', () => {
    if (!report.portkey.compared) expect(report.portkey.note).toMatch(/@portkey-ai\/gateway/);
    expect(report.machine.cpus).toBeGreaterThan(0);
    expect(report.machine.loadAverageAtStart).toHaveLength(3);
    for (const speed of [report.machine.hostSpeed.atStart, report.machine.hostSpeed.atEnd]) {
      expect(speed.fastestMs).toBeGreaterThan(0);
      expect(speed.slowestMs).toBeGreaterThanOrEqual(speed.fastestMs);
    }
    expect(formatReport(report)).toMatch(/host speed: a fixed loop .* took \d+–\d+ ms at the start and \d+–\d+ ms at the end/);
    expect(['on', 'not available']).toContain(report.rateLimits);
  });

  it('prints one table row per scenario and writes the same figures as JSON, timestamped and as latest.json', async () => {
    const table = formatReport(report);
    for (const result of report.scenarios) {
      expect(table.split('\n').some((line) => line.startsWith(`| ${result.id} | ${result.title}`))).toBe(true);
    }
    const file = await writeReport(report, outputDirectory);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual(report);
    expect(JSON.parse(await readFile(join(outputDirectory, 'latest.json'), 'utf8'))).toEqual(report);
  });
});
