// A bare relay to calibrate the benchmark: Fastify and an undici keep-alive pool, forwarding every POST
// to the same path on the fake upstream and answering its body unchanged. No auth, validation,
// routing, billing, storage or logging: what any Node gateway pays at least on this machine, so
// imagegate's ratios can be read against the best a Node relay reaches here, not only against zero.
//
// Run as its own process: `node --import tsx bench/reference-relay.ts --upstream http://127.0.0.1:N`;
// it prints `{"port":N}` on stdout once it listens.

import Fastify from 'fastify';
import { Agent, request } from 'undici';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

export async function startReferenceRelay(upstreamOrigin: string): Promise<{ port: number; close(): Promise<void> }> {
  const agent = new Agent({ keepAliveTimeout: 60_000 });
  const app = Fastify({ bodyLimit: 64 * 1024 * 1024 });
  app.post('/*', async (incoming, reply) => {
    const answer = await request(`${upstreamOrigin}${incoming.url}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: incoming.headers.authorization ?? '' },
      body: JSON.stringify(incoming.body),
      dispatcher: agent,
    });
    const body = Buffer.from(await answer.body.arrayBuffer());
    return reply.code(answer.statusCode).type('application/json').send(body);
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    port,
    close: async () => {
      await app.close();
      await agent.close();
    },
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { upstream: { type: 'string' } } });
  if (!values.upstream) throw new Error('usage: node --import tsx bench/reference-relay.ts --upstream http://127.0.0.1:N');
  const relay = await startReferenceRelay(values.upstream);
  process.stdout.write(`${JSON.stringify({ port: relay.port })}\n`);
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
