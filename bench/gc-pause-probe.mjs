// Diagnostic preload: every GC pause of the benchmarked gateway and of the two reference relays, by
// kind, written once a second to GC_PROBE_DIR (default /tmp/gc-pauses) as <role>-<pid>.json. Unlike
// bench/timeline-probe.mjs it adds no per-request work, so what it shows is the processes' own
// collector at their normal allocation (the timeline probe's records and AsyncLocalStorage change it):
//
//   GC_PROBE_DIR=/tmp/gcp NODE_OPTIONS="--import $PWD/bench/gc-pause-probe.mjs" npm run bench -- --scenarios 7
//   node bench/gc-pause-probe.mjs /tmp/gcp      # one line per process: scavenges, mark-compacts, incremental steps
//
// Pass V8 flags to the gateway alone with GATEWAY_NODE_FLAGS (bench/processes.ts), e.g. --max-semi-space-size=8.

import { PerformanceObserver, constants } from 'node:perf_hooks';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const argv = process.argv.join(' ');
const directory = process.env.GC_PROBE_DIR ?? '/tmp/gc-pauses';

if (process.argv[1]?.endsWith('gc-pause-probe.mjs')) {
  // Run as a script: the summary.
  const folder = process.argv[2] ?? directory;
  const line = (values) => {
    const sorted = [...values].sort((a, b) => a - b);
    const at = (p) => (sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0).toFixed(1);
    return `${sorted.length}, p50 ${at(0.5)} p90 ${at(0.9)} max ${at(1)} total ${sorted.reduce((a, b) => a + b, 0).toFixed(0)} ms`;
  };
  for (const file of readdirSync(folder).filter((name) => name.endsWith('.json')).sort()) {
    const pauses = JSON.parse(readFileSync(join(folder, file), 'utf8'));
    console.log(`${file}: scavenges ${line(pauses.minor)}; mark-compacts ${line(pauses.major)}; incremental ${line(pauses.incremental)}`);
  }
} else {
  const role = /reference-relay/.test(argv) ? (argv.includes('--data-dir') ? 'durable-relay' : 'bare-relay') : /main\.js$/.test(process.argv[1] ?? '') ? 'gateway' : undefined;
  if (role !== undefined) {
    mkdirSync(directory, { recursive: true });
    const pauses = { minor: [], major: [], incremental: [] };
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = entry.detail?.kind;
        (kind === constants.NODE_PERFORMANCE_GC_MINOR ? pauses.minor : kind === constants.NODE_PERFORMANCE_GC_MAJOR ? pauses.major : pauses.incremental).push(entry.duration);
      }
    }).observe({ entryTypes: ['gc'] });
    // Written as it goes: a relay stopped with SIGTERM never runs its exit handlers.
    const write = () => writeFileSync(join(directory, `${role}-${process.pid}.json`), JSON.stringify(pauses));
    setInterval(write, 1000).unref();
    process.on('exit', write);
  }
}
