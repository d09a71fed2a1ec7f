// The reference relays that calibrate the benchmark. Both are Fastify and an undici keep-alive pool,
// forwarding every POST to the same path on the fake upstream and answering its body unchanged.
//
// - bare (default): no auth, validation, routing, billing, storage or logging: what any Node gateway
//   pays at least on this machine, so imagegate's ratios can be read against the best a Node relay
//   reaches here, not only against zero.
// - durable (`--data-dir DIR`): the bare relay plus exactly the billing guarantees imagegate keeps
//   (bench/relay-ledger.ts): a reservation on disk before the upstream call, the settlement (charge and
//   usage row) on disk before the answer, group-committed. Nothing else: the floor those guarantees set.
//
// `--workers N` runs N node:cluster workers sharing the port (and the durable relay's file).
// Run as its own process: `node --import tsx bench/reference-relay.ts --upstream http://127.0.0.1:N
// [--data-dir DIR] [--workers N]`; it prints `{"port":N}` on stdout once every worker listens.

import cluster from 'node:cluster';
import { join } from 'node:path';
import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { RelayLedger } from './relay-ledger.js';

/** What the durable relay charges per image delivered (dall-e-2 256x256: $0.016, in micro-dollars). */
const pricePerImage = 16_000;

export interface ReferenceRelayOptions {
  /** Listen on this port (0: any free one). */
  port?: number;
  /** Keep the durable relay's books in `<dataDir>/ledger.sqlite`; unset: the bare relay. */
  dataDir?: string;
}

export async function startReferenceRelay(upstreamOrigin: string, options: ReferenceRelayOptions = {}): Promise<{ port: number; close(): Promise<void> }> {
  const agent = new Agent({ keepAliveTimeout: 60_000 });
  const ledger = options.dataDir === undefined ? undefined : new RelayLedger(join(options.dataDir, 'ledger.sqlite'));
  const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  app.post('/*', async (incoming, reply) => {
    const body = incoming.body as { n?: unknown } | null;
    const images = typeof body?.n === 'number' ? body.n : 1;
    const reservation = await ledger?.reserve('bench', images * pricePerImage);
    const answer = await request(`${upstreamOrigin}${incoming.url}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: incoming.headers.authorization ?? '' },
      body: JSON.stringify(incoming.body),
      dispatcher: agent,
    });
    const bytes = Buffer.from(await answer.body.arrayBuffer());
    if (ledger && reservation !== undefined) {
      // Charged for the images the answer carries, as a gateway must know them: no charge without an image.
      const delivered = answer.statusCode === 200 ? ((JSON.parse(bytes.toString('utf8')) as { data?: unknown[] }).data?.length ?? 0) : 0;
      await ledger.settle(reservation, delivered, delivered * pricePerImage);
    }
    return reply.code(answer.statusCode).type('application/json').send(bytes);
  });
  await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: async () => {
      await app.close();
      await agent.close();
      ledger?.close();
    },
  };
}

/** The primary of `--workers N`: picks a free port, forks the workers onto it, prints it once all listen. */
async function startPrimary(workers: number): Promise<void> {
  const { createServer } = await import('node:net');
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
  let listening = 0;
  for (let index = 0; index < workers; index += 1) {
    cluster.fork({ REFERENCE_RELAY_PORT: String(port) }).on('message', (message: unknown) => {
      if ((message as { listening?: boolean }).listening !== true) return;
      listening += 1;
      if (listening === workers) process.stdout.write(`${JSON.stringify({ port })}\n`);
    });
  }
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { upstream: { type: 'string' }, 'data-dir': { type: 'string' }, workers: { type: 'string' } } });
  if (!values.upstream) throw new Error('usage: node --import tsx bench/reference-relay.ts --upstream http://127.0.0.1:N [--data-dir DIR] [--workers N]');
  const workers = Number(values.workers ?? 1);
  if (cluster.isPrimary && workers > 1) return startPrimary(workers);
  const relay = await startReferenceRelay(values.upstream, {
    ...(values['data-dir'] === undefined ? {} : { dataDir: values['data-dir'] }),
    ...(process.env.REFERENCE_RELAY_PORT === undefined ? {} : { port: Number(process.env.REFERENCE_RELAY_PORT) }),
  });
  if (cluster.isWorker) process.send?.({ listening: true });
  else process.stdout.write(`${JSON.stringify({ port: relay.port })}\n`);
  const stop = () => void relay.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    process.stderr.write(`reference relay: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
