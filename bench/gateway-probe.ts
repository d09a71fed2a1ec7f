// Preloaded into the benchmarked gateway (`node --import tsx --import ./bench/gateway-probe.ts src/main.ts`):
// measures the event loop's delay from inside the process and answers the harness over the IPC channel,
// so the gateway itself carries no benchmark code and no extra endpoint.
//
// Messages from the harness: `{ type: 'reset' }` starts a fresh measurement; `{ type: 'report' }` is
// answered with a ProbeReport of everything since the last reset. `{ type: 'profile-start' }` and
// `{ type: 'profile-stop', file }` take a CPU profile of just the measured phase (start-up left out,
// unlike `node --cpu-prof`), written where the harness says.

import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ProbeReport {
  type: 'report';
  /** Event loop delay percentiles in milliseconds. */
  eventLoopDelayMs: { p50: number; p99: number; max: number; mean: number };
  /** Resident set size now, in bytes. */
  rssBytes: number;
}

// A 10 ms sampling interval is monitorEventLoopDelay's default. The histogram records the time between
// samples, interval included, so the interval is taken off to leave the delay itself.
const resolutionMs = 10;
const histogram = monitorEventLoopDelay({ resolution: resolutionMs });
histogram.enable();

const toMs = (nanoseconds: number) =>
  Number.isFinite(nanoseconds) ? Math.max(0, Math.round((nanoseconds / 1e6 - resolutionMs) * 100) / 100) : 0;

let profiler: Session | undefined;

async function startProfile(): Promise<void> {
  profiler = new Session();
  profiler.connect();
  await profiler.post('Profiler.enable');
  await profiler.post('Profiler.start');
}

async function stopProfile(file: string): Promise<void> {
  if (!profiler) return;
  const { profile } = await profiler.post('Profiler.stop');
  profiler.disconnect();
  profiler = undefined;
  await writeFile(file, JSON.stringify(profile));
}

if (typeof process.send === 'function') {
  process.on('message', (message: { type?: string; file?: string }) => {
    if (message.type === 'profile-start') {
      void startProfile().then(() => process.send?.({ type: 'profile-started' }));
    } else if (message.type === 'profile-stop' && message.file !== undefined) {
      void stopProfile(message.file).then(() => process.send?.({ type: 'profile-stopped' }));
    } else if (message.type === 'reset') {
      histogram.reset();
      process.send?.({ type: 'reset-done' });
    } else if (message.type === 'report') {
      const report: ProbeReport = {
        type: 'report',
        eventLoopDelayMs: {
          p50: toMs(histogram.percentile(50)),
          p99: toMs(histogram.percentile(99)),
          max: toMs(histogram.max),
          mean: toMs(histogram.mean),
        },
        rssBytes: process.memoryUsage.rss(),
      };
      process.send?.(report);
    }
  });
  // The IPC channel must never be what keeps the gateway alive.
  process.channel?.unref();
}
