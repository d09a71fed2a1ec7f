// `node --import tsx bench/gc-promotion.ts [b64|models|invalid ...] [--seconds 6] [--connections 16] [--gateway-root DIR]`:
// what a kind of request leaves for V8's young-generation collector. Drives one endpoint of the
// compiled gateway (in front of the fast fake, on the bench's metered key) with autocannon while the
// gateway runs with --trace-gc-nvp, and prints per scavenge its mean pause, what survived and what
// was promoted to the old space — and promoted bytes per request, which does not depend on the rate.
//
// Why: scenario 7's tail is the gateway's own (docs/performance.md, "Session 7"): its scavenges take
// 4–5 ms where the bare relay's take 0.6, because about 1 MB survives each of them twice and is
// promoted, then freed by the next mark-compact. Objects that survive two scavenges 60–125 ms apart
// live that long, yet a heap snapshot mid-load (after a full GC) holds only the requests in flight:
// something keeps request objects alive through scavenges without reaching them from a root. The
// three kinds of request bisect it: `models` (auth, routing, no handler work) and `invalid` (a 400
// from validation) promote almost nothing; `b64` (a relayed generation) promotes ~6 KB per request.
// Edit the compiled files under .bench-build/ to cut the request short at a point and run again.

import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { ensureCompiledGateway } from './gateway-build.js';
import { repositoryRoot, startGatewayProcess, startUpstreamProcess } from './processes.js';
import { benchChannels } from './scenarios/index.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { seconds: { type: 'string', default: '6' }, connections: { type: 'string', default: '16' }, 'gateway-root': { type: 'string' } },
});
const root = values['gateway-root'] ?? repositoryRoot;
const kinds = positionals.length > 0 ? positionals : ['models', 'invalid', 'b64'];

interface Scavenge {
  pauseMs: number;
  promotedBytes: number;
  survivedBytes: number;
}

/** One --trace-gc-nvp line of a scavenge (`gc=s`), as name=value pairs. */
function parseScavenge(line: string): Scavenge | undefined {
  if (!line.includes(' gc=s ')) return undefined;
  const field = (name: string) => Number(new RegExp(`(?:^| )${name}=([0-9.]+)`).exec(line)?.[1] ?? 0);
  return { pauseMs: field('pause'), promotedBytes: field('promoted'), survivedBytes: field('new_space_survived') };
}

await ensureCompiledGateway(root, (line) => console.log(line));
const upstream = await startUpstreamProcess({ slowMs: 2000 });
try {
  for (const kind of kinds) {
    let scavenges: Scavenge[] | undefined;
    const gateway = await startGatewayProcess({
      upstreamOrigin: upstream.origin,
      channels: benchChannels,
      gatewayRoot: root,
      nodeFlags: ['--trace-gc-nvp'],
      onStdoutLine: (line) => {
        const scavenge = parseScavenge(line);
        if (scavenge && scavenges) scavenges.push(scavenge);
      },
    });
    try {
      const headers = { authorization: `Bearer ${gateway.apiKey}`, 'content-type': 'application/json' };
      const generation = (size: string) => JSON.stringify({ model: 'dall-e-2', prompt: 'a lighthouse at dusk', size, response_format: 'b64_json' });
      const request =
        kind === 'models'
          ? { method: 'GET' as const, path: '/v1/models', headers }
          : kind === 'invalid'
            ? { method: 'POST' as const, path: '/v1/images/generations', headers, body: generation('7x7') }
            : kind === 'b64'
              ? { method: 'POST' as const, path: '/v1/images/generations', headers, body: generation('256x256') }
              : undefined;
      if (request === undefined) throw new Error(`unknown kind ${kind}: models, invalid or b64`);
      // A warm-up, so the measured scavenges are the steady state's.
      await autocannon({ url: gateway.url, connections: Number(values.connections), duration: 1, requests: [request] });
      scavenges = [];
      const result = await autocannon({ url: gateway.url, connections: Number(values.connections), duration: Number(values.seconds), requests: [request] });
      const measured = scavenges;
      scavenges = undefined;
      const count = measured.length;
      const sum = (pick: (s: Scavenge) => number) => measured.reduce((total, s) => total + pick(s), 0);
      const answered = result.requests.total;
      console.log(
        `${kind}: ${Math.round(result.requests.average)} req/s (${result.non2xx} non-2xx); ${count} scavenges, mean pause ${(sum((s) => s.pauseMs) / Math.max(1, count)).toFixed(2)} ms, ` +
          `survived ${Math.round(sum((s) => s.survivedBytes) / Math.max(1, count) / 1024)} KB and promoted ${Math.round(sum((s) => s.promotedBytes) / Math.max(1, count) / 1024)} KB per scavenge; ` +
          `promoted ${(sum((s) => s.promotedBytes) / Math.max(1, answered) / 1024).toFixed(2)} KB per request`,
      );
    } finally {
      await gateway.close();
    }
  }
} finally {
  await upstream.close();
}
process.exit(0);
