// Serves the built console (console/ → dist/console-ui by `npm run build:console`) at /console: hashed
// assets cached for a year, and index.html (no cache) for /console and every client-side route under it.
// Without a build it answers 503 saying how to make one, instead of a blank page.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** The package root: the nearest folder above this module with a package.json (run from src/ or compiled into dist/). */
function packageRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json')) && dirname(directory) !== directory) directory = dirname(directory);
  return directory;
}

/** Where `npm run build:console` writes (console/vite.config.ts); apart from any server build in dist/. */
export const consoleBuildDirectory = join(packageRoot(), 'dist', 'console-ui');

/** The page may load only its own scripts and styles; images also from data: and blob: (test results, uploads). */
const securityHeaders = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

export async function registerConsole(app: FastifyInstance, directory = consoleBuildDirectory): Promise<void> {
  const indexFile = join(directory, 'index.html');
  const built = existsSync(indexFile);
  if (built) {
    await app.register(fastifyStatic, {
      root: join(directory, 'assets'),
      prefix: '/console/assets/',
      index: false,
      immutable: true,
      maxAge: '365d',
      decorateReply: false,
    });
  }
  // Read per request only while developing would be nicer; a rebuild needs a restart, like the server code.
  const page = built ? readFileSync(indexFile) : undefined;
  const sendPage = (reply: FastifyReply) => {
    if (page === undefined) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The console is not built. Run `npm run build:console` (npm install and npm start do it for you), then restart imagegate.\n');
    }
    return reply.headers({ ...securityHeaders, 'cache-control': 'no-cache' }).type('text/html; charset=utf-8').send(page);
  };
  app.get('/console', async (_request, reply) => sendPage(reply));
  app.get('/console/*', async (_request, reply) => sendPage(reply));
}
