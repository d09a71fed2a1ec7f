// Gateways as child processes (`node --import tsx src/main.ts`) for the durability tests: started on
// a data dir and config file, killed with SIGKILL, their tasks polled over HTTP.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { BflFake } from '../../src/testing/fakes/bfl.js';
import { bflFakeApiKey } from '../../src/testing/fakes/bfl.js';
import { call, sleep } from './task-helpers.js';

export const apiKey = 'sk-restart-test-0123456789';
const root = new URL('../../', import.meta.url).pathname;

export interface ChildGateway {
  process: ChildProcess;
  url: string;
  pid: number;
  output: string[];
}

/** Every child still running, so a failed test can kill what it started. */
export const children = new Set<ChildProcess>();

export async function startChild(dataDir: string, configFile: string): Promise<ChildGateway> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: root,
    // A clean environment: nothing from this one (provider keys) may add channels.
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      IMAGEGATE_CONFIG: configFile,
      IMAGEGATE_DATA_DIR: dataDir,
      IMAGEGATE_API_KEYS: apiKey,
      IMAGEGATE_ALLOW_PRIVATE_NETWORKS: 'true',
      IMAGEGATE_LOG_LEVEL: 'info',
      PORT: '0',
      HOST: '127.0.0.1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.on('exit', () => children.delete(child));
  const output: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not start:\n${output.join('')}`)), 20_000);
    let pending = '';
    const onData = (chunk: Buffer) => {
      const text = chunk.toString('utf8');
      output.push(text);
      // Log lines can arrive split across chunks: only whole lines are parsed.
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes('imagegate listening')) continue;
        const address = (JSON.parse(line) as { address?: string }).address;
        if (address) {
          clearTimeout(timer);
          resolve(address);
        }
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => output.push(chunk.toString('utf8')));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited (${code}) before listening:\n${output.join('')}`));
    });
  });
  return { process: child, url, pid: child.pid ?? 0, output };
}

export async function kill9(child: ChildGateway): Promise<void> {
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGKILL');
  await exited;
}

export async function stop(child: ChildGateway): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGTERM');
  await exited;
}

/**
 * Lets every submission already past the fake's door be answered and recorded, and holds new ones,
 * so the kill lands when no job is accepted upstream but not yet recorded (that window is real, but
 * no test can hit it on purpose; exactly-once holds around it).
 */
export async function quiesceSubmissions(fake: BflFake): Promise<void> {
  fake.switches.hang = true;
  await sleep(400);
}

export async function waitForAll(url: string, ids: string[], timeoutMs: number): Promise<Array<{ id: string; status: string }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = await Promise.all(ids.map(async (id) => (await call(url, `/v1/images/tasks/${id}`, { key: apiKey })).body as { id: string; status: string }));
    if (tasks.every((task) => ['succeeded', 'failed', 'canceled'].includes(task.status)) || Date.now() > deadline) return tasks;
    await sleep(100);
  }
}

/** The config file of a gateway with one BFL channel on the fake. */
export async function writeBflConfig(folder: string, name: string, fake: BflFake, workers: number): Promise<string> {
  const file = join(folder, `${name}.yaml`);
  await writeFile(
    file,
    [
      'channels:',
      '  - name: bfl',
      '    provider: bfl',
      `    base_url: ${fake.url}`,
      `    api_key: ${bflFakeApiKey}`,
      '    models: [flux-1.1-pro]',
      '    poll_interval_ms: 25',
      'tasks:',
      `  workers: ${workers}`,
      '  lease_ms: 1500',
      '',
    ].join('\n'),
  );
  return file;
}
