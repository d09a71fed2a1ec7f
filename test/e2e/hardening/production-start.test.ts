// Issue 9, item 15: how the gateway runs in production. `npm start` as documented drains on
// SIGTERM sent to the pid a supervisor holds (npm's): the in-flight request completes, the gateway
// exits 0 and no process is left behind. `npm run build` compiles to JavaScript that plain node runs
// with no TypeScript loader, finding the catalog and SQL migrations from the build.

import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHeldUpstream, type HeldUpstream } from './held-upstream.js';

const root = new URL('../../../', import.meta.url).pathname;
const apiKey = 'sk-production-start-0123456789';
let folder: string;
let held: HeldUpstream;
const started: ChildProcess[] = [];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-production-'));
  held = await startHeldUpstream();
});
afterAll(async () => {
  for (const child of started) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await held.close();
  await rm(folder, { recursive: true, force: true });
});

function launch(command: string, args: string[], cwd: string, env: Record<string, string>) {
  const child = spawn(command, args, { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), HOST: '127.0.0.1', PORT: '0', IMAGEGATE_API_KEYS: apiKey, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let output = '';
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const waiter of waiters) waiter();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const waitFor = (pattern: RegExp) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(output);
        if (match) {
          waiters.delete(check);
          resolve(match);
        } else if (child.exitCode !== null) reject(new Error(`exited before ${pattern}:\n${output}`));
      };
      waiters.add(check);
      child.on('close', check);
      check();
    });
  return { child, exited, waitFor, output: () => output };
}

const listening = async (gateway: ReturnType<typeof launch>) => {
  const line = (await gateway.waitFor(/\{[^\n]*"msg":"imagegate listening"[^\n]*\}\n/))[0];
  return JSON.parse(line) as { address: string; pid: number };
};

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start', () => {
  it('drains on SIGTERM to its pid: the in-flight request completes, exit 0, nothing left running', { timeout: 120_000 }, async () => {
    const config = join(folder, 'held.yaml');
    await writeFile(config, `channels:\n  - { name: held, provider: openai, base_url: "${held.baseUrl}", api_key: sk-held-0123456789abcdef, models: [gpt-image-1-mini] }\n`);
    const npm = launch('npm', ['start', '--silent'], root, { IMAGEGATE_DATA_DIR: join(folder, 'npm-data'), IMAGEGATE_CONFIG: config });
    const { address, pid } = await listening(npm);
    expect(pid).not.toBe(npm.child.pid);

    const inFlight = fetch(`${address}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-image-1-mini', prompt: 'a slow lighthouse', size: '1024x1024' }),
    });
    await held.arrived(1);
    npm.child.kill('SIGTERM');
    await npm.waitFor(/draining in-flight requests/);
    held.release();
    const response = await inFlight;
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Array<{ b64_json: string }> };
    expect((await sharp(Buffer.from(body.data[0]?.b64_json ?? '', 'base64')).metadata()).width).toBe(1024);
    expect(await npm.exited).toBe(0);
    expect(isRunning(pid)).toBe(false);
  });
});

describe('npm run build', () => {
  it('compiles a server that plain node runs from the build, finding its catalog and migrations', { timeout: 240_000 }, async () => {
    // Built outside the checkout, so the suite never leaves a dist/ behind that bin/imagegate.js would prefer.
    const app = join(folder, 'app');
    await mkdir(app);
    await symlink(join(root, 'node_modules'), join(app, 'node_modules'));
    await cp(join(root, 'catalog'), join(app, 'catalog'), { recursive: true });
    await cp(join(root, 'package.json'), join(app, 'package.json'));
    await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build.mjs'), join(app, 'dist')], { cwd: root, timeout: 200_000 });

    const server = launch(process.execPath, ['dist/main.js'], app, { IMAGEGATE_DATA_DIR: join(folder, 'built-data') });
    const { address } = await listening(server);
    const response = await fetch(`${address}/v1/images/generations`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'dall-e-2', prompt: 'built', size: '256x256', response_format: 'b64_json' }),
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data: Array<{ b64_json: string }> };
    expect((await sharp(Buffer.from(body.data[0]?.b64_json ?? '', 'base64')).metadata()).width).toBe(256);
    // No TypeScript loader was involved: the process runs dist/*.js only.
    expect(server.output()).not.toMatch(/tsx|\.ts:\d+/);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });
});
