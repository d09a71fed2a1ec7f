// Preloaded into a benchmarked gateway (`SQLITE_PROBE_DIR=/tmp/x NODE_OPTIONS="--import /abs/path/bench/sqlite-statement-probe.mjs"`):
// wraps better-sqlite3's Statement run/get/all and Database prepare/exec, and sums the time each SQL
// text takes and how often it runs. On exit it writes the totals to $SQLITE_PROBE_DIR/<pid>.json, for
// bench/sqlite-statement-report.ts to print per request.
//
// The clock: wall time of the synchronous call by default — on the event loop's one thread that is
// its CPU time plus whatever preemption a loaded machine adds, which spreads over the statements in
// proportion to their time. SQLITE_PROBE_CLOCK=cpu uses process.cpuUsage() instead, which counts every
// thread of the process: the checkpointer's and V8's helper threads' CPU lands, in lumps of a
// scheduler tick, on whichever statement happened to run.
// Only a process started from a compiled build (`.bench-build/` or `dist/`) is probed, unless
// SQLITE_PROBE_ALL=1 (a microbenchmark under tsx).

import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const entry = process.argv[1] ?? '';
const folder = process.env.SQLITE_PROBE_DIR;
if (folder && (process.env.SQLITE_PROBE_ALL === '1' || entry.includes('.bench-build') || entry.includes('/dist/'))) {
  const require = createRequire(entry);
  const Database = require('better-sqlite3');
  const cpu = process.env.SQLITE_PROBE_CLOCK === 'cpu';
  const now = cpu ? () => process.cpuUsage() : () => process.hrtime.bigint();
  const since = cpu
    ? (started) => {
        const used = process.cpuUsage(started);
        return (used.user + used.system) * 1000;
      }
    : (started) => Number(process.hrtime.bigint() - started);
  /** @type {Map<string, { calls: number; ns: number }>} */
  const totals = new Map();
  const add = (source, started) => {
    const spent = since(started);
    const total = totals.get(source);
    if (total) {
      total.calls += 1;
      total.ns += spent;
    } else totals.set(source, { calls: 1, ns: spent });
  };
  const scratch = new Database(':memory:');
  const statement = Object.getPrototypeOf(scratch.prepare('SELECT 1'));
  scratch.close();
  for (const method of ['run', 'get', 'all']) {
    const original = statement[method];
    statement[method] = function (...parameters) {
      const started = now();
      try {
        return original.apply(this, parameters);
      } finally {
        add(`${method}: ${this.source}`, started);
      }
    };
  }
  for (const method of ['prepare', 'exec']) {
    const original = Database.prototype[method];
    Database.prototype[method] = function (source, ...rest) {
      const started = now();
      try {
        return original.call(this, source, ...rest);
      } finally {
        add(`${method}: ${source}`, started);
      }
    };
  }
  process.on('exit', () => {
    const rows = [...totals].map(([source, { calls, ns }]) => ({ source: source.replace(/\s+/g, ' ').slice(0, 300), calls, ms: ns / 1e6 }));
    writeFileSync(join(folder, `${process.pid}.json`), JSON.stringify({ pid: process.pid, entry, clock: cpu ? 'cpu' : 'wall', rows }));
  });
}
