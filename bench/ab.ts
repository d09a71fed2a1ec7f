// `node --import tsx bench/ab.ts OTHER_CHECKOUT [--scenario small-b64|rehost-url|tasks] [--rounds N] [--slice SECONDS]
//   [--env-a K=V …] [--env-b K=V …] [--node-flags-a '…'] [--node-flags-b '…']`: one scenario's load through two compiled imagegates at once —
// another checkout's (A) and this one's (B) — in alternating slices (A B, B A, …), with each side's CPU
// per answered request (or finished task) and its rate summed over its slices. On a shared machine whose
// load moves by the minute, a before/after comparison is only fair when both sides see the same minutes.
//
// small-b64 (default): scenario 6's request (dall-e-2 256x256 b64_json, 64 connections, metered key).
// rehost-url: scenario 3's request (a 1024x1024 b64_json answer turned into a hosted URL, 16 connections).
// tasks: scenario 4's batch (asynchronous tasks submitted and followed until final), each slice
// submitting for SECONDS and then waiting for its tasks to finish.
// OTHER_CHECKOUT may be this checkout (`.`) to compare two settings through --env-a / --env-b, or two
// sets of node flags through --node-flags-a / --node-flags-b (after the production flags, which win
// over NODE_OPTIONS in the environment).
// A side whose environment sets IMAGEGATE_DATABASE_URL=postgres://… runs on that database (a `?schema=`
// of its own per side), and the PostgreSQL server's CPU in its slices is printed beside the gateway's.

import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCompiledGateway } from './gateway-build.js';
import { formatHostSpeed, measureHostSpeed } from './host-speed.js';
import { runLoad } from './load.js';
import { cpuSecondsOf, cpuSecondsOfPostgresServer, repositoryRoot, startGatewayProcess, startUpstreamProcess, type GatewayProcess } from './processes.js';
import { jsonPost } from './scenario.js';
import { runTaskBatch } from './scenarios/async-tasks.js';
import { benchChannels } from './scenarios/channels.js';

/** One slice of load against a gateway: what was answered (or finished), in how long, and what failed. */
type Slice = (gateway: GatewayProcess, seconds: number) => Promise<{ answered: number; seconds: number; failed: number }>;

/** A slice of one generation request, sent by `connections` clients at once. */
function requestSlice(body: Record<string, string>, connections: number): { unit: string; slice: Slice } {
  return {
    unit: 'req',
    slice: async (gateway, seconds) => {
      const result = await runLoad(jsonPost(`${gateway.url}/v1/images/generations`, body, gateway.apiKey), { connections, durationSeconds: seconds });
      return { answered: result.succeeded, seconds: result.durationSeconds, failed: result.failed };
    },
  };
}

const slices: Record<string, { unit: string; slice: Slice }> = {
  'small-b64': requestSlice({ model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' }, 64),
  // Scenario 3's request: a 1024x1024 image (about 2 MB of base64) the gateway decodes, stores and links to.
  'rehost-url': requestSlice({ model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '1024x1024', response_format: 'url' }, 16),
  tasks: {
    unit: 'task',
    slice: async (gateway, seconds) => {
      const batch = await runTaskBatch(gateway.url, gateway.apiKey, seconds);
      return { answered: batch.succeeded, seconds: batch.elapsedSeconds, failed: batch.failed };
    },
  },
};

function environmentOf(pairs: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs ?? []) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw new Error(`--env-a/--env-b take NAME=VALUE, got '${pair}'`);
    env[pair.slice(0, equals)] = pair.slice(equals + 1);
  }
  return env;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      scenario: { type: 'string' },
      rounds: { type: 'string' },
      slice: { type: 'string' },
      'env-a': { type: 'string', multiple: true },
      'env-b': { type: 'string', multiple: true },
      'node-flags-a': { type: 'string' },
      'node-flags-b': { type: 'string' },
    },
  });
  const other = positionals[0];
  const scenario = slices[values.scenario ?? 'small-b64'];
  if (other === undefined || scenario === undefined) {
    throw new Error('usage: node --import tsx bench/ab.ts OTHER_CHECKOUT [--scenario small-b64|rehost-url|tasks] [--rounds N] [--slice SECONDS] [--env-a K=V] [--env-b K=V] [--node-flags-a FLAGS] [--node-flags-b FLAGS]');
  }
  const rounds = Number(values.rounds ?? 6);
  const sliceSeconds = Number(values.slice ?? 3);
  const envA = environmentOf(values['env-a']);
  const envB = environmentOf(values['env-b']);
  const flagsOf = (flags: string | undefined) => (flags ?? '').split(' ').filter(Boolean);
  const flagsA = flagsOf(values['node-flags-a']);
  const flagsB = flagsOf(values['node-flags-b']);
  const describe = (env: Record<string, string>, flags: string[]) => [...Object.entries(env).map(([name, value]) => ` ${name}=${value}`), ...flags.map((flag) => ` ${flag}`)].join('');
  const roots = [
    { name: `A (${resolve(other)}${describe(envA, flagsA)})`, root: resolve(other), env: envA, nodeFlags: flagsA },
    { name: `B (${repositoryRoot}${describe(envB, flagsB)})`, root: repositoryRoot, env: envB, nodeFlags: flagsB },
  ];
  const log = (line: string) => process.stderr.write(`${line}\n`);
  for (const { root } of roots) await ensureCompiledGateway(root, log);
  // Before any process of the comparison starts, so that only the host is timed.
  const speedAtStart = measureHostSpeed();
  const upstream = await startUpstreamProcess({ slowMs: 100 });
  const sides = [];
  try {
    for (const { name, root, env, nodeFlags } of roots) {
      const gateway = await startGatewayProcess({ upstreamOrigin: upstream.origin, channels: benchChannels, gatewayRoot: root, env, nodeFlags });
      sides.push({ name, gateway, onPostgres: env['IMAGEGATE_DATABASE_URL']?.startsWith('postgres') === true, cpuSeconds: 0, serverCpuSeconds: 0, answered: 0, seconds: 0, failed: 0 });
    }
    const loadAtStart = loadavg();
    // Warm-up: each side compiles its hot code before anything is counted.
    for (const side of sides) await scenario.slice(side.gateway, 2);
    for (let round = 0; round < rounds; round += 1) {
      for (const side of round % 2 === 0 ? sides : [...sides].reverse()) {
        const before = await cpuSecondsOf(side.gateway.pid);
        const serverBefore = side.onPostgres ? await cpuSecondsOfPostgresServer() : 0;
        const result = await scenario.slice(side.gateway, sliceSeconds);
        side.cpuSeconds += (await cpuSecondsOf(side.gateway.pid)) - before;
        if (side.onPostgres) side.serverCpuSeconds += (await cpuSecondsOfPostgresServer()) - serverBefore;
        side.answered += result.answered;
        side.seconds += result.seconds;
        side.failed += result.failed;
      }
    }
    const load = (numbers: number[]) => numbers.map((value) => value.toFixed(1)).join(' ');
    process.stdout.write(
      `${values.scenario ?? 'small-b64'}: ${rounds} rounds × ${sliceSeconds} s each; load average ${load(loadAtStart)} at the start, ${load(loadavg())} at the end; ` +
        `host speed (bench/host-speed.ts) ${formatHostSpeed(speedAtStart)} at the start, ${formatHostSpeed(measureHostSpeed())} at the end\n`,
    );
    for (const side of sides) {
      const cpu = side.answered > 0 ? ((side.cpuSeconds * 1000) / side.answered).toFixed(3) : '–';
      // The PostgreSQL server's CPU in this side's slices (the other side is idle meanwhile).
      const server = side.onPostgres && side.answered > 0 ? ` + ${((side.serverCpuSeconds * 1000) / side.answered).toFixed(3)} ms in the PostgreSQL server` : '';
      process.stdout.write(`${side.name}: ${cpu} ms CPU/${scenario.unit}${server}, ${Math.round(side.answered / side.seconds)} ${scenario.unit}/s, ${side.failed} failed\n`);
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
