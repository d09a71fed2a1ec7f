import pg from 'pg';
const c = new pg.Client('postgres://postgres@127.0.0.1:5432/test'); await c.connect();
const end = Date.now() + Number(process.argv[2] ?? 60) * 1000;
let samples = 0, active = 0, waitingLock = 0, other = {};
while (Date.now() < end) {
  const r = await c.query(`select state, wait_event_type, wait_event, left(query, 40) q from pg_stat_activity where application_name = 'imagegate' and state = 'active'`);
  if (r.rows.length > 0) { samples++; active += r.rows.length;
    for (const row of r.rows) { const k = `${row.wait_event_type ?? 'cpu'}:${row.wait_event ?? ''}:${row.q.replace(/\s+/g,' ')}`; other[k] = (other[k] ?? 0) + 1; if (row.wait_event_type === 'Lock') waitingLock++; } }
  await new Promise(r => setTimeout(r, 100));
}
console.log('samples with activity', samples, 'active avg', (active / samples).toFixed(2), 'lock-waiting avg', (waitingLock / samples).toFixed(2));
for (const [k, v] of Object.entries(other).sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log((v / samples).toFixed(2), k);
await c.end();
