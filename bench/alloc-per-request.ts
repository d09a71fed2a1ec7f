// `node --import tsx bench/alloc-per-request.ts [CHECKOUT] [--seconds N] [--top N]`: bytes allocated per
// request on scenario 6's request (dall-e-2 256x256 b64_json, 64 connections, metered key) through a
// compiled imagegate (this checkout's or another's), from a sampling heap profile that keeps every
// sampled allocation (bench/heap-alloc-probe.mjs), net of the gateway's idle allocation rate; then the
// largest allocating call sites (self) and the gateway's own frames (inclusive), in bytes per request.
// Alternate two checkouts' runs: the load of a shared machine moves req/s, and with it the figure.

import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureCompiledGateway } from './gateway-build.js';
import { runLoad } from './load.js';
import { repositoryRoot, startGatewayProcess, startUpstreamProcess } from './processes.js';
import { jsonPost } from './scenario.js';
import { benchChannels } from './scenarios/channels.js';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}
interface Dump {
  requests: number;
  ms: number;
  profile: { head: ProfileNode };
}

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };
const sleep = (ms: number) => new Promise((resolvePromise) => setTimeout(resolvePromise, ms));

async function waitFor(file: string): Promise<Dump> {
  for (let tries = 0; tries < 200 && !existsSync(file); tries += 1) await sleep(100);
  return JSON.parse(readFileSync(file, 'utf8')) as Dump;
}

function report(loaded: Dump, idle: Dump, top: number): void {
  let total = 0;
  let idleTotal = 0;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const walk = (node: ProfileNode, stack: string[]): number => {
    const frame = node.callFrame;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/.*\/(\.bench-build|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
    const below = node.children.reduce((sum, child) => sum + walk(child, [...stack, key]), node.selfSize);
    if (!stack.includes(key)) inclusive.set(key, (inclusive.get(key) ?? 0) + below);
    return below;
  };
  walk(loaded.profile.head, []);
  const sumIdle = (node: ProfileNode): void => {
    idleTotal += node.selfSize;
    node.children.forEach(sumIdle);
  };
  sumIdle(idle.profile.head);
  const idlePerMs = idleTotal / idle.ms;
  const perRequest = (bytes: number) => (bytes / loaded.requests).toFixed(0).padStart(7);
  console.log(
    `${loaded.requests} requests in ${loaded.ms} ms: ${((total - idlePerMs * loaded.ms) / loaded.requests / 1024).toFixed(1)} KB allocated per request net of idle (${(idlePerMs / 1024).toFixed(1)} KB/ms idle)`,
  );
  console.log('self, bytes per request:');
  for (const [key, bytes] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${perRequest(bytes)}  ${key}`);
  console.log("the gateway's frames, inclusive, bytes per request:");
  for (const [key, bytes] of [...inclusive].filter(([key]) => key.includes('.bench-build')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${perRequest(bytes)}  ${key}`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { seconds: { type: 'string' }, top: { type: 'string' } } });
  const root = resolve(positionals[0] ?? repositoryRoot);
  const out = join('/tmp', `alloc-per-request-${process.pid}.json`);
  await ensureCompiledGateway(root, (line) => process.stderr.write(`${line}\n`));
  const upstream = await startUpstreamProcess({ slowMs: 100 });
  // Set only now: the preload is inert outside the gateway, but the upstream need not load it.
  process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import ${join(repositoryRoot, 'bench', 'heap-alloc-probe.mjs')}`;
  process.env.ALLOC_OUT = out;
  const gateway = await startGatewayProcess({ upstreamOrigin: upstream.origin, channels: benchChannels, gatewayRoot: root });
  try {
    const target = jsonPost(`${gateway.url}/v1/images/generations`, body, gateway.apiKey);
    await runLoad(target, { connections: 64, durationSeconds: 3 });
    process.kill(gateway.pid, 'SIGUSR2');
    await sleep(300);
    const result = await runLoad(target, { connections: 64, durationSeconds: Number(values.seconds ?? 5) });
    process.kill(gateway.pid, 'SIGUSR2');
    const loaded = await waitFor(out);
    await sleep(1000);
    process.kill(gateway.pid, 'SIGUSR2');
    await sleep(4000);
    process.kill(gateway.pid, 'SIGUSR2');
    const idle = await waitFor(out.replace(/\.json$/, '-idle.json'));
    console.log(`${root}; load average ${loadavg().map((value) => value.toFixed(1)).join(' ')}; ${result.succeeded} answered, ${result.failed} failed`);
    report(loaded, idle, Number(values.top ?? 30));
  } finally {
    await gateway.close();
    await upstream.close();
  }
}

await main();
