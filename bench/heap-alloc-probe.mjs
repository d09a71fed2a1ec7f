// Preloaded into the compiled gateway by bench/alloc-per-request.ts (through NODE_OPTIONS): each SIGUSR2
// starts or stops a sampling heap profile that keeps every sampled allocation, those a scavenge or a
// mark-compact collected included, so the profile's summed sizes estimate all bytes allocated in the
// window, by call site. Writes { requests, ms, profile } to ALLOC_OUT (the first window) and to
// ALLOC_OUT with -idle before .json (the second: no load, the gateway's own background allocations).
// Inert outside the compiled gateway's main thread.

import { Session } from 'node:inspector/promises';
import { renameSync, writeFileSync } from 'node:fs';
import diagnostics from 'node:diagnostics_channel';
import { isMainThread } from 'node:worker_threads';

if (/main\.js$/.test(process.argv[1] ?? '') && isMainThread && process.env.ALLOC_OUT !== undefined) {
  const out = process.env.ALLOC_OUT;
  let served = 0;
  diagnostics.channel('http.server.response.finish').subscribe(() => {
    served += 1;
  });
  let session;
  let startCount = 0;
  let startedAt = 0;
  let windows = 0;
  process.on('SIGUSR2', async () => {
    if (session === undefined) {
      session = new Session();
      session.connect();
      await session.post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      startCount = served;
      startedAt = Date.now();
    } else {
      const current = session;
      session = undefined;
      const requests = served - startCount;
      const ms = Date.now() - startedAt;
      const { profile } = await current.post('HeapProfiler.stopSampling');
      // Written aside and renamed: the harness polls for the file and must never read it half-written.
      const file = windows++ === 0 ? out : out.replace(/\.json$/, '-idle.json');
      writeFileSync(`${file}.partial`, JSON.stringify({ requests, ms, profile }));
      renameSync(`${file}.partial`, file);
    }
  });
}
