// Reads a folder of timeline-probe.mjs dumps (node bench/timeline-summary.mjs DIR [slowMs]) and
// attributes the gateway's slow requests (server side above p99, or above slowMs) to what overlapped them.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const directory = process.argv[2];
const files = readdirSync(directory);
const gatewayFile = files.filter((f) => f.startsWith('gateway-') && f.endsWith('.json')).sort().at(-1);
const g = JSON.parse(readFileSync(join(directory, gatewayFile), 'utf8'));
const pct = (values, p) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(s.length * p))];
};
const f1 = (x) => x.toFixed(1);
const resetAt = g.marks.find((m) => m.what === 'reset')?.t ?? 0;
const reportAt = g.marks.find((m) => m.what === 'report')?.t ?? Infinity;
const span = (reportAt - resetAt) / 1000;
const requests = g.requests.filter((r) => r.url?.startsWith('/v1/images'));
const times = requests.map((r) => r.end - r.start);
console.log(`gateway: ${requests.length} requests in ${f1(span)} s; server-side p50 ${f1(pct(times, 0.5))} p90 ${f1(pct(times, 0.9))} p99 ${f1(pct(times, 0.99))} max ${f1(Math.max(...times))} ms`);
{
  const traced = requests.filter((r) => r.upstreamStart !== undefined && r.upstreamEnd !== undefined);
  const part = (f) => traced.map(f);
  const line = (name, values) => `${name} p50 ${f1(pct(values, 0.5))} p90 ${f1(pct(values, 0.9))} p99 ${f1(pct(values, 0.99))}`;
  console.log(`phases of ${traced.length} requests (ms): ${line('before upstream', part((r) => r.upstreamStart - r.start))}; ${line('upstream', part((r) => r.upstreamEnd - r.upstreamStart))}; ${line('after upstream', part((r) => r.end - r.upstreamEnd))}`);
}
const byKind = {};
for (const e of g.gc) (byKind[e.kind] ??= []).push(e.ms);
for (const [kind, list] of Object.entries(byKind)) console.log(`gc ${kind}: ${list.length}, p50 ${f1(pct(list, 0.5))} max ${f1(Math.max(...list))} total ${f1(list.reduce((a, b) => a + b, 0))} ms`);
{
  let promoted = 0, previous;
  for (const e of g.gc) {
    const old = e.spacesKB?.old_space;
    if (old === undefined) continue;
    if (previous !== undefined && e.kind === 'minor' && old > previous) promoted += old - previous;
    previous = old;
  }
  const heapLine = g.gc.filter((e) => e.spacesKB).map((e) => `${e.kind[0]}${Math.round(e.spacesKB.old_space / 1024)}`).join(' ');
  console.log(`old space growth over scavenges: ${Math.round(promoted)} KB = ${f1(promoted / Math.max(1, requests.length))} KB per request; old MB after each gc: ${heapLine}`);
}
if (g.gcProfile) {
  const space = (side, name) => side.heapSpaceStatistics.find((x) => x.spaceName === name)?.spaceUsedSize ?? 0;
  const rows = {};
  for (const e of g.gcProfile.statistics) {
    const r = (rows[e.gcType] ??= { n: 0, cost: 0, promoted: 0, newBefore: 0, freed: 0, oldAfter: [] });
    r.n += 1;
    r.cost += e.cost / 1000;
    r.promoted += space(e.afterGC, 'old_space') - space(e.beforeGC, 'old_space');
    r.newBefore += space(e.beforeGC, 'new_space');
    r.freed += e.beforeGC.heapStatistics.usedHeapSize - e.afterGC.heapStatistics.usedHeapSize;
    r.oldAfter.push(Math.round(space(e.afterGC, 'old_space') / 1048576));
  }
  for (const [type, r] of Object.entries(rows)) console.log(`GCProfiler ${type}: ${r.n}, ${f1(r.cost)} ms total; old space change ${Math.round(r.promoted / 1024)} KB (${f1(r.promoted / 1024 / Math.max(1, requests.length))} KB/request); new space before avg ${Math.round(r.newBefore / r.n / 1024)} KB; freed ${Math.round(r.freed / 1024)} KB; old MB after: ${r.oldAfter.join(' ')}`);
  const last = g.gcProfile.statistics.at(-1);
  if (last) console.log('new_space size', Math.round(last.afterGC.heapSpaceStatistics.find((x) => x.spaceName === 'new_space').spaceSize / 1024), 'KB');
}
const gaps = g.gaps.map((x) => x.ms);
console.log(`loop gaps > 2 ms: ${gaps.length}, p50 ${f1(pct(gaps, 0.5))} max ${f1(Math.max(0, ...gaps))} total ${f1(gaps.reduce((a, b) => a + b, 0))} ms`);
const units = g.batches.map((b) => b.units);
const commits = g.batches.map((b) => b.commitMs);
const batchMs = g.batches.map((b) => b.end - b.start);
console.log(`batches: ${g.batches.length}, units p50 ${pct(units, 0.5)} p99 ${pct(units, 0.99)} max ${Math.max(0, ...units)}; batch ms p50 ${f1(pct(batchMs, 0.5))} p99 ${f1(pct(batchMs, 0.99))} max ${f1(Math.max(0, ...batchMs))}; COMMIT p50 ${f1(pct(commits, 0.5))} p99 ${f1(pct(commits, 0.99))} max ${f1(Math.max(0, ...commits))}`);
const cps = g.checkpoints.map((c) => `${c.mode.replace('wal_checkpoint', '')} ${f1(c.ms)}ms@${f1((c.start - resetAt) / 1000)}s log=${c.result?.log} busy=${c.result?.busy}`);
console.log(`checkpoints: ${g.checkpoints.length}: ${cps.filter((c) => !c.startsWith('(PASSIVE')).join('; ')}; PASSIVE ms p50 ${f1(pct(g.checkpoints.filter((c) => c.mode.includes('PASSIVE')).map((c) => c.ms), 0.5))}`);
const sqlSlow = g.sql.filter((s) => !s.source.startsWith('PRAGMA busy_timeout'));
console.log(`slow sql (> 0.5 ms): ${sqlSlow.length}; ${Object.entries(sqlSlow.reduce((m, s) => ((m[s.source.slice(0, 40)] = (m[s.source.slice(0, 40)] ?? 0) + 1), m), {})).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
console.log(`busy_timeout pragmas > 0.5 ms: ${g.sql.length - sqlSlow.length}; fs sync > 0.3 ms: ${g.fs.length}`);

const threshold = Number(process.argv[3] ?? pct(times, 0.99));
const slow = requests.filter((r) => r.end - r.start >= threshold);
const overlaps = (a0, a1, b0, b1) => a0 < b1 && b0 < a1;
const tally = {};
const note = (key, ms) => {
  tally[key] ??= { requests: 0, ms: 0 };
  tally[key].requests += 1;
  tally[key].ms += ms;
};
console.log(`\nslow requests (server side >= ${f1(threshold)} ms): ${slow.length}`);
const clusters = [];
for (const r of slow) {
  const o = [];
  const gcs = g.gc.filter((e) => overlaps(r.start, r.end, e.start, e.start + e.ms));
  for (const e of gcs) o.push(`gc-${e.kind} ${f1(e.ms)}`);
  const gcMs = {};
  for (const e of gcs) gcMs[e.kind] = (gcMs[e.kind] ?? 0) + e.ms;
  for (const [k, v] of Object.entries(gcMs)) note(`gc-${k}`, v);
  const cp = g.checkpoints.filter((c) => !c.mode.includes('PASSIVE') && overlaps(r.start, r.end, c.start, c.start + c.ms));
  for (const c of cp) (o.push(`${c.mode.replace('wal_checkpoint', 'cp')} ${f1(c.ms)}`), note('checkpoint RESTART/TRUNCATE', c.ms));
  const cpp = g.checkpoints.filter((c) => c.mode.includes('PASSIVE') && c.ms > 1 && overlaps(r.start, r.end, c.start, c.start + c.ms));
  for (const c of cpp) (o.push(`PASSIVE ${f1(c.ms)}`), note('checkpoint PASSIVE > 1 ms', c.ms));
  const longCommits = g.batches.filter((b) => b.end - b.start > 2 && overlaps(r.start, r.end, b.start, b.end));
  for (const b of longCommits) (o.push(`batch ${b.units}u ${f1(b.end - b.start)} (commit ${f1(b.commitMs)})`), note('batch > 2 ms', b.end - b.start));
  const gp = g.gaps.filter((x) => overlaps(r.start, r.end, x.start, x.end));
  const gapMs = gp.reduce((a, b) => a + b.ms, 0);
  if (gp.length) (o.push(`gaps ${gp.length}: ${f1(gapMs)}`), note('loop gaps', gapMs));
  const sq = sqlSlow.filter((s) => overlaps(r.start, r.end, s.start, s.start + s.ms));
  for (const s of sq) note('slow sql', s.ms);
  if (sq.length) o.push(`sql ${sq.length}: ${f1(sq.reduce((a, b) => a + b.ms, 0))}`);
  const inFlight = requests.filter((x) => overlaps(r.start, r.end, x.start, x.end)).length;
  o.push(`in flight ${inFlight}`);
  if (!gcs.length && !cp.length && !longCommits.length) note('none of gc/checkpoint/long batch', 0);
  clusters.push(`${f1((r.start - resetAt) / 1000)}s +${f1(r.end - r.start)}ms: ${o.join(', ')}`);
}
for (const c of clusters) console.log('  ' + c);
console.log('\nslow requests overlapped by (count, summed ms of the overlapping events):');
for (const [k, v] of Object.entries(tally).sort((a, b) => b[1].requests - a[1].requests)) console.log(`  ${k}: ${v.requests} (${f1(v.ms)} ms)`);

// What the loop gaps were: overlapping GC, long batches, checkpoints.
let gcGap = 0, batchGap = 0, other = 0;
for (const x of g.gaps) {
  if (g.gc.some((e) => overlaps(x.start, x.end, e.start, e.start + e.ms))) gcGap += x.ms;
  else if (g.batches.some((b) => overlaps(x.start, x.end, b.start, b.end) && b.end - b.start > 1)) batchGap += x.ms;
  else other += x.ms;
}
console.log(`\nloop gap ms: with a GC ${f1(gcGap)}, with a batch > 1 ms ${f1(batchGap)}, other ${f1(other)}`);

for (const file of files.filter((f) => f.startsWith('runner-'))) {
  const r = JSON.parse(readFileSync(join(directory, file), 'utf8'));
  if (r.requests.length === 0 && r.gaps.length === 0) continue;
  const inWindow = (t) => t >= resetAt && t <= reportAt;
  const rg = r.gaps.filter((x) => inWindow(x.start));
  const rgc = r.gc.filter((x) => inWindow(x.start));
  const rq = r.requests.filter((x) => inWindow(x.start) && x.url?.startsWith('/v1/images'));
  const rt = rq.map((x) => x.end - x.start);
  console.log(`runner ${file} during the gateway phase: ${rq.length} requests, client p50 ${f1(pct(rt, 0.5))} p99 ${f1(pct(rt, 0.99))} max ${f1(Math.max(0, ...rt))} ms; loop gaps > 2 ms ${rg.length} (max ${f1(Math.max(0, ...rg.map((x) => x.ms)))}, total ${f1(rg.reduce((a, b) => a + b.ms, 0))}); gc ${rgc.length} (${rgc.map((x) => `${x.kind} ${f1(x.ms)}`).filter((x) => !x.startsWith('minor')).join(', ')}; minor total ${f1(rgc.filter((x) => x.kind === 'minor').reduce((a, b) => a + b.ms, 0))} ms)`);
}
