// `node --import tsx bench/ab.ts OTHER_CHECKOUT [--rounds N] [--slice SECONDS]`: scenario 6's request
// (dall-e-2 256x256 b64_json, 64 connections, metered key) through two compiled imagegates at once —
// another checkout's and this one's — in alternating slices (A B, B A, …), with each side's CPU per
// answered request and req/s summed over its slices. On a shared machine whose load moves by the
// minute, a before/after comparison is only fair when both sides see the same minutes.

import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCompiledGateway } from './gateway-build.js';
import { runLoad } from './load.js';
import { cpuSecondsOf, repositoryRoot, startGatewayProcess, startUpstreamProcess } from './processes.js';
import { jsonPost } from './scenario.js';
import { benchChannels } from './scenarios/channels.js';

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };
const connections = 64;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { rounds: { type: 'string' }, slice: { type: 'string' } } });
  const other = positionals[0];
  if (other === undefined) throw new Error('usage: node --import tsx bench/ab.ts OTHER_CHECKOUT [--rounds N] [--slice SECONDS]');
  const rounds = Number(values.rounds ?? 6);
  const sliceSeconds = Number(values.slice ?? 3);
  const roots = [
    { name: `A (${resolve(other)})`, root: resolve(other) },
    { name: `B (${repositoryRoot})`, root: repositoryRoot },
  ];
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const { root } of roots) await ensureCompiledGateway(root, log);
  const upstream = await startUpstreamProcess({ slowMs: 100 });
  const sides = [];
  try {
    for (const { name, root } of roots) {
      const gateway = await startGatewayProcess({ upstreamOrigin: upstream.origin, channels: benchChannels, gatewayRoot: root });
      sides.push({ name, gateway, target: jsonPost(`${gateway.url}/v1/images/generations`, body, gateway.apiKey), cpuSeconds: 0, answered: 0, seconds: 0, failed: 0 });
    }
    const loadAtStart = loadavg();
    for (const side of sides) await runLoad(side.target, { connections, durationSeconds: 2 });
    for (let round = 0; round < rounds; round += 1) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const before = await cpuSecondsOf(side.gateway.pid);
        const result = await runLoad(side.target, { connections, durationSeconds: sliceSeconds });
        side.cpuSeconds += (await cpuSecondsOf(side.gateway.pid)) - before;
        side.answered += result.succeeded;
        side.seconds += result.durationSeconds;
        side.failed += result.failed;
      }
    }
    const load = (values: number[]) => values.map((value) => value.toFixed(1)).join(' ');
    process.stdout.write(`${rounds} rounds × ${sliceSeconds} s each, ${connections} connections; load average ${load(loadAtStart)} at the start, ${load(loadavg())} at the end\n`);
    for (const side of sides) {
      const cpu = side.answered > 0 ? ((side.cpuSeconds * 1000) / side.answered).toFixed(3) : '–';
      process.stdout.write(`${side.name}: ${cpu} ms CPU/req, ${Math.round(side.answered / side.seconds)} req/s, ${side.failed} failed\n`);
    }
  } finally {
    for (const side of sides) await side.gateway.close();
    await upstream.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench/ab.ts: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
