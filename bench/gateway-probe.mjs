// Preloaded into the benchmarked gateway (`node --import ./bench/gateway-probe.mjs .bench-build/main.js`):
// measures the event loop's delay from inside the process and answers the harness over the IPC channel,
// so the gateway itself carries no benchmark code and no extra endpoint. Plain JavaScript, so the
// compiled gateway runs with no TypeScript loader at all (the report's shape: ProbeReport in processes.ts).
//
// Messages from the harness: `{ type: 'reset' }` starts a fresh measurement; `{ type: 'report' }` is
// answered with a report of everything since the last reset. `{ type: 'profile-start' }` and
// `{ type: 'profile-stop', file }` take a CPU profile of just the measured phase (start-up left out,
// unlike `node --cpu-prof`), written where the harness says.

import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';

// A 10 ms sampling interval is monitorEventLoopDelay's default. The histogram records the time between
// samples, interval included, so the interval is taken off to leave the delay itself.
const resolutionMs = 10;
const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
histogram.enable();

/** @param {number} nanoseconds */
const toMs = (nanoseconds) => (Number.isFinite(nanoseconds) ? Math.max(0, Math.round((nanoseconds / 1e6 - resolutionMs) * 100) / 100) : 0);

/** @type {Session | undefined} */
let profiler;

async function startProfile() {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}

/** @param {string} file */
async function stopProfile(file) {
  if (!profiler) return;
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = undefined;
  await writeFile(file, JSON.stringify(profile));
}

// In a cluster worker process.send talks to the primary, not the harness: only the process the
// harness started answers it.
if (typeof process.send === 'function' && process.env.NODE_UNIQUE_ID === undefined) {
  process.on('message', (/** @type {{ type?: string; file?: string }} */ message) => {
    if (message.type === 'profile-start') {
      void startProfile().then(() => process.send?.({ type: 'profile-started' }));
    } else if (message.type === 'profile-stop' && message.file !== undefined) {
      void stopProfile(message.file).then(() => process.send?.({ type: 'profile-stopped' }));
    } else if (message.type === 'reset') {
      histogram.reset();
      process.send?.({ type: 'reset-done' });
    } else if (message.type === 'report') {
      process.send?.({
        type: 'report',
        eventLoopDelayMs: {
          p50: toMs(histogram.percentile(50)),
          p99: toMs(histogram.percentile(99)),
          max: toMs(histogram.max),
          mean: toMs(histogram.mean),
        },
        rssBytes: process.memoryUsage.rss(),
      });
    }
  });
  // The IPC channel must never be what keeps the gateway alive.
  process.channel?.unref();
}
