// `node --import tsx bench/sqlite-statement-report.ts DIR [PER_SOURCE]`: prints what the preload
// bench/sqlite-statement-probe.mjs wrote into DIR, one table per probed process: each SQL text's calls
// and microseconds per request (requests = runs of the statement whose text starts with PER_SOURCE,
// by default the usage row's INSERT: one per settled request), largest first.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const folder = process.argv[2];
if (folder === undefined) throw new Error('usage: bench/sqlite-statement-report.ts DIR [PER_SOURCE]');
const perSource = process.argv[3] ?? 'run: INSERT INTO billing_usage';
for (const file of readdirSync(folder).filter((name) => name.endsWith('.json'))) {
  const { pid, entry, rows } = JSON.parse(readFileSync(join(folder, file), 'utf8')) as { pid: number; entry: string; rows: Array<{ source: string; calls: number; ms: number }> };
  const requests = rows.filter((row) => row.source.startsWith(perSource)).reduce((sum, row) => sum + row.calls, 0);
  if (requests === 0) continue;
  const total = rows.reduce((sum, row) => sum + row.ms, 0);
  process.stdout.write(`\n${entry} (pid ${pid}): ${requests} requests, ${((total * 1000) / requests).toFixed(1)} µs of SQLite calls per request\n`);
  for (const row of rows.sort((a, b) => b.ms - a.ms).slice(0, 30)) {
    process.stdout.write(`${((row.ms * 1000) / requests).toFixed(2).padStart(8)} µs/req ${(row.calls / requests).toFixed(3).padStart(7)} calls/req  ${row.source.slice(0, 150)}\n`);
  }
}
