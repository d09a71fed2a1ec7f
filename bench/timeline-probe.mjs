// Diagnostic preload: a timeline of what happens inside the benchmarked gateway, to attribute slow
// requests to what overlapped them. Not part of the gateway; `node bench/timeline-summary.mjs DIR`
// reads what it writes. Use it through NODE_OPTIONS, so the harness passes it on to its children:
//
//   TIMELINE_DIR=/tmp/tl NODE_OPTIONS="--import $PWD/bench/timeline-probe.mjs" npm run bench -- --scenarios 7
//
// Active in the compiled gateway (argv ends with main.js) and in the bench runner (argv mentions
// bench/run.ts), or as TIMELINE_ROLE=gateway|runner says (a micro-benchmark); inert elsewhere and in
// worker threads. Records, in epoch milliseconds: each HTTP request served (start, its upstream call's
// start, headers and end, finish), event-loop gaps above 2 ms (a 1 ms interval timer), GC pauses by
// kind with the heap spaces after them, v8.GCProfiler's per-collection statistics, better-sqlite3's
// BEGIN IMMEDIATE … COMMIT batches (units = SAVEPOINTs) and any statement above 0.5 ms, each
// checkpoint of the WAL checkpointer thread (timed inside its worker), synchronous fs calls above
// 0.3 ms. The gateway writes DIR/gateway-PID-N.json at the harness's 'report' message (what happened
// since its 'reset': the measured phase); the runner, and a micro-benchmark, at exit.
// TIMELINE_HEAP=1 also writes a sampling heap profile of the measured phase that keeps objects a
// major GC collected (after one forced scavenge at the end): what was promoted to the old space, plus
// the requests in flight at that moment. TIMELINE_SNAPSHOT=MS writes a heap snapshot MS milliseconds
// after the harness's 'reset' (1500: mid-phase; that run's latency is spoilt). It costs CPU and allocations of its own: compare
// runs made with it only with each other.

import { createRequire, syncBuiltinESMExports } from 'node:module';
import diagnostics from 'node:diagnostics_channel';
import { PerformanceObserver, performance, constants } from 'node:perf_hooks';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import v8 from 'node:v8';
import { Session } from 'node:inspector/promises';

const argv = process.argv.join(' ');
const role = process.env.TIMELINE_ROLE ?? (/main\.js$/.test(process.argv[1] ?? '') ? 'gateway' : /bench\/run\.ts/.test(argv) ? 'runner' : undefined);
const directory = process.env.TIMELINE_DIR ?? '/tmp/timeline';
const isMainThread = (await import('node:worker_threads')).isMainThread;

if (role !== undefined && isMainThread) {
  mkdirSync(directory, { recursive: true });
  const now = () => performance.timeOrigin + performance.now();
  const events = { requests: [], gaps: [], gc: [], sql: [], batches: [], checkpoints: [], fs: [], marks: [] };
  const reset = () => {
    for (const key of Object.keys(events)) events[key] = [];
    events.marks.push({ t: now(), what: 'reset' });
  };

  // Event-loop gaps: a 1 ms timer; a gap is the time between two firings beyond 1 ms.
  let last = now();
  setInterval(() => {
    const t = now();
    if (t - last > 3) events.gaps.push({ start: last, end: t, ms: t - last - 1 });
    last = t;
  }, 1).unref();

  const gcKinds = { [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      events.gc.push({ start: performance.timeOrigin + entry.startTime, ms: entry.duration, kind: gcKinds[entry.detail?.kind] ?? String(entry.detail?.kind) });
    }
    // Space sizes after the collections just reported: old space growth between scavenges is what was promoted.
    const spaces = {};
    for (const space of v8.getHeapSpaceStatistics()) spaces[space.space_name] = Math.round(space.space_used_size / 1024);
    events.gc.at(-1).spacesKB = spaces;
  }).observe({ entryTypes: ['gc'] });

  if (role === 'gateway') {
    const started = new WeakMap();
    // Each served request's record follows its async work, so the upstream call it makes is known.
    const { AsyncLocalStorage } = await import('node:async_hooks');
    const current = new AsyncLocalStorage();
    diagnostics.channel('http.server.request.start').subscribe(({ request }) => {
      const record = { start: now() };
      started.set(request, record);
      current.enterWith(record);
    });
    diagnostics.channel('http.server.response.finish').subscribe(({ request, response }) => {
      const record = started.get(request);
      if (record !== undefined) events.requests.push({ ...record, end: now(), url: request.url, status: response.statusCode });
    });
    const upstream = new WeakMap();
    diagnostics.channel('undici:request:create').subscribe(({ request }) => {
      const record = current.getStore();
      if (record !== undefined && record.upstreamStart === undefined) {
        record.upstreamStart = now();
        upstream.set(request, record);
      }
    });
    diagnostics.channel('undici:request:headers').subscribe(({ request }) => {
      const record = upstream.get(request);
      if (record !== undefined) record.upstreamHeaders = now();
    });
    diagnostics.channel('undici:request:trailers').subscribe(({ request }) => {
      const record = upstream.get(request);
      if (record !== undefined) record.upstreamEnd = now();
    });

    // better-sqlite3, resolved from the gateway's folder.
    try {
      const require = createRequire(join(process.cwd(), 'package.json'));
      const Database = require('better-sqlite3');
      const probe = new Database(':memory:');
      const statementPrototype = Object.getPrototypeOf(probe.prepare('SELECT 1'));
      probe.close();
      const run = statementPrototype.run;
      let batch;
      statementPrototype.run = function (...args) {
        const t = now();
        const source = this.source;
        try {
          return run.apply(this, args);
        } finally {
          const ms = now() - t;
          if (source === 'BEGIN IMMEDIATE') batch = { start: t, units: 0 };
          else if (source === 'SAVEPOINT unit' && batch) batch.units += 1;
          else if (source === 'COMMIT') {
            if (batch) events.batches.push({ start: batch.start, end: now(), units: batch.units, commitMs: ms });
            batch = undefined;
          } else if (ms > 0.5) events.sql.push({ start: t, ms, source: source.slice(0, 80) });
        }
      };
      const pragma = Database.prototype.pragma;
      Database.prototype.pragma = function (...args) {
        const t = now();
        try {
          return pragma.apply(this, args);
        } finally {
          const ms = now() - t;
          if (ms > 0.5) events.sql.push({ start: t, ms, source: `PRAGMA ${args[0]}` });
        }
      };
      for (const method of ['all', 'get']) {
        const original = statementPrototype[method];
        statementPrototype[method] = function (...args) {
          const t = now();
          try {
            return original.apply(this, args);
          } finally {
            const ms = now() - t;
            if (ms > 0.5) events.sql.push({ start: t, ms, source: `${method} ${this.source.slice(0, 80)}` });
          }
        };
      }
    } catch (error) {
      events.marks.push({ t: now(), what: `no better-sqlite3 probe: ${error}` });
    }

    // The checkpointer: its source is prefixed with timing of its wal_checkpoint pragmas, posted back.
    const workerThreads = createRequire(import.meta.url)('node:worker_threads');
    const OriginalWorker = workerThreads.Worker;
    workerThreads.Worker = class extends OriginalWorker {
      constructor(source, options) {
        const isCheckpointer = options?.eval === true && typeof source === 'string' && source.includes('wal_checkpoint');
        if (isCheckpointer) {
          source = source.replace(
            "const database = new Database(workerData.file);",
            `const database = new Database(workerData.file);
{ const { performance } = require('node:perf_hooks'); const pragma = database.pragma.bind(database);
  database.pragma = (text, ...rest) => { const t = performance.timeOrigin + performance.now(); let result; try { result = pragma(text, ...rest); return result; } finally {
    if (String(text).startsWith('wal_checkpoint')) parentPort.postMessage({ timeline: true, start: t, ms: performance.timeOrigin + performance.now() - t, mode: String(text), result: result && result[0] }); } }; }`,
          );
        }
        super(source, options);
        if (isCheckpointer) this.on('message', (message) => { if (message?.timeline) events.checkpoints.push(message); });
      }
    };
    syncBuiltinESMExports();

    const fs = createRequire(import.meta.url)('node:fs');
    for (const name of ['writeFileSync', 'writeSync', 'fsyncSync', 'renameSync', 'openSync', 'readFileSync']) {
      const original = fs[name];
      fs[name] = function (...args) {
        const t = now();
        try {
          return original.apply(this, args);
        } finally {
          const ms = now() - t;
          if (ms > 0.3) events.fs.push({ start: t, ms, name });
        }
      };
    }
    syncBuiltinESMExports();

    let dumps = 0;
    // Outside the harness (a micro-benchmark): everything, at exit.
    if (typeof process.send !== 'function') {
      const profiler = new v8.GCProfiler();
      profiler.start();
      process.on('exit', () => {
        events.gcProfile = profiler.stop();
        writeFileSync(join(directory, `gateway-${process.pid}-exit.json`), JSON.stringify(events));
      });
      // A process stopped with SIGINT still writes its timeline.
      process.once('SIGINT', () => process.exit(0));
    }
    let heapSession;
    let gcProfiler;
    if (typeof process.send === 'function') {
      process.on('message', async (message) => {
        if (message?.type === 'reset') {
          reset();
          gcProfiler = new v8.GCProfiler();
          gcProfiler.start();
          // A heap snapshot of what is live after the maximum-throughput phase (this run's latency is then spoilt).
          if (process.env.TIMELINE_SNAPSHOT !== undefined) setTimeout(() => v8.writeHeapSnapshot(join(directory, `gateway-${process.pid}.heapsnapshot`)), Number(process.env.TIMELINE_SNAPSHOT) || 50);
          if (process.env.TIMELINE_HEAP === '1') {
            heapSession = new Session();
            heapSession.connect();
            void heapSession.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true });
          }
        } else if (message?.type === 'report') {
          events.marks.push({ t: now(), what: 'report' });
          if (gcProfiler) {
            events.gcProfile = gcProfiler.stop();
            gcProfiler = undefined;
          }
          if (heapSession) {
            const session = heapSession;
            heapSession = undefined;
            // Young garbage would otherwise count as kept: a scavenge first, so what stays is what was promoted (or is live).
            v8.setFlagsFromString('--expose-gc');
            const gc = (await import('node:vm')).runInNewContext('gc');
            // One only: a second would promote whatever the first kept (the requests in flight).
            gc({ type: 'minor' });
            void session.post('HeapProfiler.stopSampling').then(({ profile }) => writeFileSync(join(directory, `gateway-${process.pid}.heapprofile`), JSON.stringify(profile)));
          }
          writeFileSync(join(directory, `gateway-${process.pid}-${dumps++}.json`), JSON.stringify(events));
        }
      });
    }
  } else {
    // The client's view: undici requests from creation to their last byte (not from the scheduled arrival).
    const created = new WeakMap();
    diagnostics.channel('undici:request:create').subscribe(({ request }) => created.set(request, now()));
    diagnostics.channel('undici:request:trailers').subscribe(({ request }) => {
      const start = created.get(request);
      if (start !== undefined) events.requests.push({ start, end: now(), url: request.path });
    });
    process.on('exit', () => writeFileSync(join(directory, `runner-${process.pid}.json`), JSON.stringify(events)));
  }
}
