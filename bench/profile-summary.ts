// `node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top N]`: the functions and packages
// where a `node --cpu-prof` profile spent its time, as the figures in docs/performance.md were read.

import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/<package>` or the repository folder a script belongs to; (native) for V8 and Node internals. */
function ownerOf(url: string): string {
  if (url === '') return '(native/gc/idle)';
  const packageMatch = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (packageMatch?.[1]) return packageMatch[1];
  if (url.startsWith('node:')) return url;
  // The compiled gateway (bench/gateway-build.ts) is named by its source file.
  const compiledMatch = /\/\.bench-build\/(.+)\.js$/.exec(url);
  if (compiledMatch) return `src/${compiledMatch[1]}.ts`;
  const sourceMatch = /\/(src|bench)\/(.+)$/.exec(url);
  return sourceMatch ? `${sourceMatch[1]}/${sourceMatch[2]}` : url;
}

const notBusy = new Set(['(idle)', '(program)', '(root)']);

const frameName = (node: ProfileNode) => `${node.callFrame.functionName || '(anonymous)'} ${ownerOf(node.callFrame.url)}:${node.callFrame.lineNumber + 1}`;

export function summarise(profile: CpuProfile, top: number): string {
  const selfMicros = new Map<number, number>();
  profile.samples.forEach((nodeId, index) => selfMicros.set(nodeId, (selfMicros.get(nodeId) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const total = [...selfMicros.values()].reduce((sum, value) => sum + value, 0);

  // Inclusive time of the repository's own functions (children included), over busy time only.
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const inclusive = new Map<string, number>();
  let busy = 0;
  for (const [nodeId, micros] of selfMicros) {
    const node = nodes.get(nodeId);
    if (!node || notBusy.has(node.callFrame.functionName)) continue;
    busy += micros;
    const seen = new Set<string>();
    for (let current: number | undefined = nodeId; current !== undefined; current = parents.get(current)) {
      const ancestor = nodes.get(current);
      if (!ancestor || !/\/(src|bench|\.bench-build)\//.test(ancestor.callFrame.url)) continue;
      const name = frameName(ancestor);
      if (seen.has(name)) continue;
      seen.add(name);
      inclusive.set(name, (inclusive.get(name) ?? 0) + micros);
    }
  }
  const byFunction = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const node of profile.nodes) {
    const micros = selfMicros.get(node.id) ?? 0;
    if (micros === 0) continue;
    const frame = node.callFrame;
    const name = frameName(node);
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros);
    byOwner.set(ownerOf(frame.url), (byOwner.get(ownerOf(frame.url)) ?? 0) + micros);
  }
  const lines = (map: Map<string, number>, of: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, micros]) => `${((micros / of) * 100).toFixed(1).padStart(5)}%  ${name}`);
  return [
    `total ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s busy (not idle)`,
    '',
    'self time by function (of all samples):',
    ...lines(byFunction, total),
    '',
    'self time by package or file (of all samples):',
    ...lines(byOwner, total),
    '',
    "inclusive time of the repository's functions (of busy time):",
    ...lines(inclusive, busy),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' } } });
  const file = positionals[0];
  if (!file) throw new Error('usage: node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top N]');
  const profile = JSON.parse(await readFile(file, 'utf8')) as CpuProfile;
  process.stdout.write(`${summarise(profile, Number(values.top))}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
