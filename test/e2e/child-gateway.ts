// Gateways as child processes (`node --import tsx src/main.ts`) for the durability tests: started on
// a data dir and config file, killed with SIGKILL, their tasks polled over HTTP.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { call, queryDatabase, sleep } from './task-helpers.js';

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

export async function startChild(dataDir: string, configFile: string, extraEnv: Record<string, string> = {}): Promise<ChildGateway> {
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
      ...extraEnv,
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

/** What a durability test runs against; read it inside the test (it is set up in a hook). */
export interface DurabilityRig {
  /** Slow on purpose (8 polls a job), so a kill finds jobs running upstream. */
  readonly fake: BflFake;
  /** In front of the fake's submit endpoint; give its URL to the gateways. */
  readonly gate: SubmissionGate;
  /** A scratch folder for data dirs and config files, removed afterwards. */
  readonly folder: string;
}

/** Registers the hooks that set up the rig for the file, kill every child left after each test, and tear it down. */
export function useDurabilityRig(folderPrefix: string): DurabilityRig {
  let rig: { fake: BflFake; gate: SubmissionGate; folder: string } | undefined;
  beforeAll(async () => {
    const fake = await startBflFake({ switches: { pollsBeforeReady: 8 } });
    const gate = await startSubmissionGate(fake.url);
    rig = { fake, gate, folder: await mkdtemp(join(tmpdir(), folderPrefix)) };
  });
  afterEach(() => {
    for (const child of children) child.kill('SIGKILL');
  });
  afterAll(async () => {
    if (rig === undefined) return;
    await rig.gate.close();
    await rig.fake.close();
    await rm(rig.folder, { recursive: true, force: true });
  });
  const current = () => {
    if (rig === undefined) throw new Error('the durability rig is not set up: read it inside a test');
    return rig;
  };
  return {
    get fake() {
      return current().fake;
    },
    get gate() {
      return current().gate;
    },
    get folder() {
      return current().folder;
    },
  };
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
 * A pass-through in front of the fake's submit endpoint (polls and downloads go to the fake
 * directly, by the URLs it hands out) that can hold new submissions, so a test can kill a gateway at
 * a moment when no job is accepted upstream but not yet recorded. That window is real, but no test
 * can hit it on purpose; exactly-once holds on both sides of it.
 */
export interface SubmissionGate {
  url: string;
  /** Submissions forwarded and not yet answered. */
  readonly inFlight: number;
  pause(): void;
  /**
   * Forwards the held submissions whose client is still connected. It first gives the sockets of a
   * gateway that was just killed time to report their close: a submission sent on behalf of a dead
   * process would otherwise reach the fake after the fact.
   */
  resume(): Promise<void>;
  close(): Promise<void>;
}

export async function startSubmissionGate(target: string): Promise<SubmissionGate> {
  let paused = false;
  let inFlight = 0;
  let held: Array<() => void> = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      void (async () => {
        if (paused) await new Promise<void>((resolve) => held.push(resolve));
        // Its gateway was killed while it waited: the fake never sees it.
        if (request.socket.destroyed) return;
        inFlight += 1;
        try {
          const headers: Record<string, string> = {};
          for (const name of ['x-key', 'content-type', 'accept']) {
            const value = request.headers[name];
            if (typeof value === 'string') headers[name] = value;
          }
          const upstream = await fetch(`${target}${request.url ?? '/'}`, {
            method: request.method ?? 'GET',
            headers,
            body: request.method === 'POST' ? Buffer.concat(chunks) : undefined,
          });
          const body = Buffer.from(await upstream.arrayBuffer());
          response.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(body);
        } catch {
          response.destroy();
        } finally {
          inFlight -= 1;
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get inFlight() {
      return inFlight;
    },
    pause() {
      paused = true;
    },
    async resume() {
      await sleep(300);
      paused = false;
      const waiting = held;
      held = [];
      for (const release of waiting) release();
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Holds new submissions and waits until every job the fake accepted is recorded in the database. */
export async function quiesceSubmissions(gate: SubmissionGate, fake: BflFake, dataDir: string): Promise<void> {
  gate.pause();
  const deadline = Date.now() + 20_000;
  while (gate.inFlight > 0 && Date.now() < deadline) await sleep(10);
  for (;;) {
    const rows = queryDatabase<{ upstream_job: string }>(dataDir, 'SELECT upstream_job FROM tasks WHERE upstream_job IS NOT NULL');
    const recorded = new Set(
      rows.flatMap((row) => (JSON.parse(row.upstream_job) as { data: { calls: Array<{ data: { id: string } } | null> } }).data.calls.flatMap((job) => (job ? [job.data.id] : []))),
    );
    if ([...fake.tasks.keys()].every((id) => recorded.has(id))) return;
    if (Date.now() > deadline) throw new Error('accepted jobs were never recorded');
    await sleep(20);
  }
}

export async function waitForAll(url: string, ids: string[], timeoutMs: number, key = apiKey): Promise<Array<{ id: string; status: string }>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const tasks = await Promise.all(ids.map(async (id) => (await call(url, `/v1/images/tasks/${id}`, { key })).body as { id: string; status: string }));
    if (tasks.every((task) => ['succeeded', 'failed', 'canceled'].includes(task.status)) || Date.now() > deadline) return tasks;
    await sleep(100);
  }
}

/** The config file of a gateway with one BFL channel submitting to `submitUrl` (the fake, or a gate before it). */
export async function writeBflConfig(folder: string, name: string, submitUrl: string, workers: number): Promise<string> {
  const file = join(folder, `${name}.yaml`);
  await writeFile(
    file,
    [
      'channels:',
      '  - name: bfl',
      '    provider: bfl',
      `    base_url: ${submitUrl}`,
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
