// The optional comparison with Portkey's gateway: run only when `@portkey-ai/gateway` is installed,
// as its own process in front of the same fake upstream (provider `openai`, custom host = the fake).

import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { join, dirname } from 'node:path';
import type { LoadTarget } from './load.js';
import { repositoryRoot, upstreamApiKey } from './processes.js';

export interface PortkeyProcess {
  url: string;
  /** The same Images request as imagegate's, sent through Portkey to `upstreamPath` on the fake. */
  target(upstreamPath: string, body: unknown): LoadTarget;
  close(): Promise<void>;
}

/** Where Portkey's start script lives, or why the comparison is skipped. */
export function locatePortkey(): { script: string } | { skipped: string } {
  const require = createRequire(join(repositoryRoot, 'package.json'));
  let manifestPath: string;
  try {
    manifestPath = require.resolve('@portkey-ai/gateway/package.json');
  } catch {
    return { skipped: '@portkey-ai/gateway is not installed, so the Portkey comparison was skipped (install it to run scenarios 1 and 2 through it too)' };
  }
  const manifest = require(manifestPath) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : Object.values(manifest.bin ?? {})[0];
  if (bin === undefined) return { skipped: '@portkey-ai/gateway is installed but names no start script, so the Portkey comparison was skipped' };
  return { script: join(dirname(manifestPath), bin) };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntilAnswering(url: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`Portkey exited (code ${child.exitCode}) before it was ready`);
    const answered = await fetch(url).then(
      () => true,
      () => false,
    );
    if (answered) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`Portkey did not answer on ${url} within ${timeoutMs} ms`);
}

export async function startPortkey(script: string, upstreamOrigin: string): Promise<PortkeyProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, [script, `--port=${port}`], { cwd: repositoryRoot, stdio: ['ignore', 'ignore', 'ignore'] });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilAnswering(url, child, 30_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    url,
    target: (upstreamPath, body) => ({
      url: `${url}/v1/images/generations`,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${upstreamApiKey}`,
        'x-portkey-provider': 'openai',
        'x-portkey-custom-host': `${upstreamOrigin}${upstreamPath}`,
      },
      body: JSON.stringify(body),
    }),
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
