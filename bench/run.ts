// `npm run bench [-- --scenarios 1,2,3] [--duration <s>] [--slow-ms <ms>] [--out <dir>]`: runs the
// benchmark of issue 6, prints the table and writes the figures under bench/results/.

import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { defaultOptions, runBenchmark } from './harness.js';
import { defaultBenchPostgresServer } from './postgres.js';
import { repositoryRoot } from './processes.js';
import { formatReport, writeReport } from './report.js';

const usage = `usage: npm run bench -- [--scenarios 1,2,3,4,5] [--duration SECONDS] [--slow-ms MS] [--out DIR] [--profile DIR] [--gateway-root DIR] [--runtime compiled|tsx] [--postgres URL|off]
  --scenarios  which scenarios to run (default: all)
  --duration   seconds of load per scenario, shared among its phases (default ${defaultOptions.durationSeconds})
  --slow-ms    how long scenario 5's upstream holds each answer (default ${defaultOptions.slowMs})
  --out        where the JSON results go (default bench/results)
  --profile    CPU-profile imagegate during each scenario's measured phase into DIR/scenario-N.cpuprofile;
               summarise one with: node --import tsx bench/profile-summary.ts DIR/scenario-N.cpuprofile
  --gateway-root  run imagegate from another checkout (with node_modules), e.g. to measure before/after a change
  --runtime    compiled (default): imagegate compiled (npm run build, into .bench-build/) as production runs it, rebuilt when src/ is newer;
               tsx: the TypeScript sources through the tsx loader
  --postgres   PostgreSQL server on which scenarios 4 and 6 also run, each in a fresh schema dropped afterwards
               (default ${defaultBenchPostgresServer}, or IMAGEGATE_BENCH_POSTGRES_URL; "off": SQLite only)`;

function positiveNumber(text: string, name: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`--${name} must be a positive number, got '${text}'`);
  return value;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      scenarios: { type: 'string' },
      duration: { type: 'string' },
      'slow-ms': { type: 'string' },
      out: { type: 'string' },
      profile: { type: 'string' },
      'gateway-root': { type: 'string' },
      runtime: { type: 'string' },
      postgres: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  const scenarios = values.scenarios
    ? values.scenarios.split(',').map((item) => Math.round(positiveNumber(item.trim(), 'scenarios')))
    : defaultOptions.scenarios;
  const runtime = values.runtime ?? defaultOptions.runtime;
  if (runtime !== 'compiled' && runtime !== 'tsx') throw new RangeError(`--runtime must be compiled or tsx, got '${runtime}'`);
  const report = await runBenchmark({
    ...defaultOptions,
    scenarios,
    runtime,
    durationSeconds: values.duration ? positiveNumber(values.duration, 'duration') : defaultOptions.durationSeconds,
    slowMs: values['slow-ms'] ? Math.round(positiveNumber(values['slow-ms'], 'slow-ms')) : defaultOptions.slowMs,
    ...(values.profile === undefined ? {} : { profileDirectory: resolve(values.profile) }),
    ...(values['gateway-root'] === undefined ? {} : { gatewayRoot: resolve(values['gateway-root']) }),
    ...(values.postgres === 'off' ? {} : { postgresServer: values.postgres ?? defaultBenchPostgresServer }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(`\n${formatReport(report)}`);
  const file = await writeReport(report, values.out ?? join(repositoryRoot, 'bench', 'results'));
  process.stdout.write(`\nwrote ${file} and latest.json\n`);
  process.stdout.write(`the gateways' data folders are emptied, not deleted, on exit (bench/processes.ts): rm -rf ${join(tmpdir(), 'imagegate-bench-*')} when no run follows for a few minutes\n`);
  if (report.scenarios.some((result) => result.status === 'failed')) process.exitCode = 1;
}

// Interrupted: exit normally, so the children are stopped (see processes.ts) rather than left running.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));

main().catch((error: unknown) => {
  process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n${usage}\n`);
  process.exit(1);
});
