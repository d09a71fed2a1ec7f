// The benchmark's separate processes: the fake upstream and imagegate itself, started as children,
// with what the harness reads from outside them (listening address, peak RSS, event loop delay).

import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, truncateSync, type Dirent } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { compiledEntry, type GatewayRuntime } from './gateway-build.js';

export const repositoryRoot = resolve(import.meta.dirname, '..');

/**
 * The node flags every production command runs the gateway with (package.json's start, the Dockerfile's
 * CMD, the README's commands and systemd unit; bench/production-flags.test.ts keeps them equal): the
 * bench measures the gateway as it runs there. The reference relays run with node's defaults.
 */
export const productionNodeFlags: readonly string[] = ['--max-semi-space-size=32'];
export const benchApiKey = 'sk-bench-0123456789abcdef0123456789';
const benchAdminToken = 'bench-admin-token-0123456789abcdef';
/** Per-key limits the benchmark key gets: checked on every request, never reached. */
/** $1,000,000: about 60 million small images, more than any run spends. */
const benchQuotaCredits = 1_000_000_000_000;
const benchRateLimits = { requests_per_minute: 100_000_000, images_per_minute: 100_000_000, concurrent_requests: 100_000 };
export const upstreamApiKey = 'sk-bench-upstream-key';

/** What bench/gateway-probe.mjs answers to `{ type: 'report' }`. */
export interface ProbeReport {
  type: 'report';
  /** Event loop delay percentiles in milliseconds. */
  eventLoopDelayMs: { p50: number; p99: number; max: number; mean: number };
  /** Resident set size now, in bytes. */
  rssBytes: number;
}

/** A child process with its recent stderr kept, so a failure to start can say why. */
interface Child {
  process: ChildProcess;
  stderrTail(): string;
  /** Recent stdout lines after readiness (the gateway's JSON log). */
  stdoutLines: string[];
  /** Told of each stdout line after readiness. */
  onStdoutLine?: ((line: string) => void) | undefined;
}

/**
 * Children still running and their data folders: stopped and emptied when the harness exits, however
 * it exits. Emptied, not deleted: on an ext4 without a journal (this machine's disk) deleting thousands
 * of files makes the inode allocator skip each freed inode for the next one to five minutes, and creating
 * a file then costs up to ten times as much kernel CPU (perf: `recently_deleted` under `find_inode_bit`;
 * 44 µs a file before a deletion of 5,000 files, 600 µs after) — which landed on the tasks of the next
 * run's scenario 4 whenever runs followed each other (half its rate). Truncating gives the bytes back and
 * frees no inode; the empty files stay under `<tmp>/imagegate-bench-*` for `rm -rf` when no run follows.
 */
const running = new Set<ChildProcess>();
const dataFolders = new Set<string>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGTERM');
  for (const folder of dataFolders) emptyFiles(folder);
});

/** Truncates every file under `folder` to nothing, keeping the files (see above). */
function emptyFiles(folder: string): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(folder, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) emptyFiles(path);
    else if (entry.isFile()) {
      try {
        truncateSync(path);
      } catch {
        // Gone meanwhile, or not ours to change: the rest are still emptied.
      }
    }
  }
}

function startChild(args: string[], env: Record<string, string>, withIpc: boolean, cwd = repositoryRoot): Child {
  const child = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: withIpc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  return { process: child, stderrTail: () => stderr, stdoutLines: [] };
}

/** Resolves with the first stdout line for which `pick` returns a value; rejects if the child exits first. */
function waitForLine<T>(child: Child, pick: (line: string) => T | undefined, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const stdout = child.process.stdout;
    if (!stdout) {
      reject(new Error(`${what}: no stdout`));
      return;
    }
    const lines = createInterface({ input: stdout });
    const timer = setTimeout(() => fail(new Error(`${what} did not start within ${timeoutMs} ms\n${child.stderrTail()}`)), timeoutMs);
    const onExit = (code: number | null) => fail(new Error(`${what} exited (code ${code}) before it was ready\n${child.stderrTail()}`));
    const done = () => {
      clearTimeout(timer);
      child.process.off('exit', onExit);
      lines.removeAllListeners('line');
      // Keep draining stdout so a chatty child never blocks on a full pipe; the last lines explain failures.
      lines.on('line', (line) => {
        child.onStdoutLine?.(line);
        child.stdoutLines.push(line);
        if (child.stdoutLines.length > 200) child.stdoutLines.splice(0, 100);
      });
    };
    const fail = (error: Error) => {
      done();
      reject(error);
    };
    child.process.once('exit', onExit);
    lines.on('line', (line) => {
      const value = pick(line);
      if (value !== undefined) {
        done();
        resolvePromise(value);
      }
    });
  });
}

/**
 * CPU seconds (user + system) a process has used, from /proc/<pid>/stat: unlike throughput on a shared
 * machine, this cost per request does not change with what else the machine is running.
 */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // The command name (field 2) may hold spaces; fields are counted after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const clockTicksPerSecond = 100;
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / clockTicksPerSecond;
}

/**
 * CPU seconds of a process and its children (a cluster's primary and its workers), read the same way:
 * the children are listed in /proc/<pid>/task/<pid>/children while they run.
 */
export async function cpuSecondsOfTree(pid: number): Promise<number> {
  const children = (await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => ''))
    .split(' ')
    .filter((field) => field.trim() !== '')
    .map(Number);
  const own = await cpuSecondsOf(pid);
  const theirs = await Promise.all(children.map((child) => cpuSecondsOfTree(child)));
  return theirs.reduce((sum, seconds) => sum + seconds, own);
}

/**
 * CPU seconds of this machine's PostgreSQL server: every process named `postgres` (the postmaster,
 * its backends and helpers), plus what the postmaster's exited children used (fields 16–17, cutime
 * and cstime), so a backend whose connection closed mid-measurement still counts.
 */
export async function cpuSecondsOfPostgresServer(): Promise<number> {
  let seconds = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    if (!stat.includes('(postgres)')) continue;
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const clockTicksPerSecond = 100;
    // Only the postmaster reaps children: the others' cutime and cstime stay 0.
    seconds += (Number(fields[11] ?? 0) + Number(fields[12] ?? 0) + Number(fields[13] ?? 0) + Number(fields[14] ?? 0)) / clockTicksPerSecond;
  }
  return seconds;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolvePromise) => child.once('exit', () => resolvePromise()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export interface UpstreamProcess {
  origin: string;
  pid: number;
  close(): Promise<void>;
}

/** A bench child that prints `{"port":N}` once it listens. */
async function startPortPrintingChild(args: string[], what: string): Promise<UpstreamProcess> {
  const child = startChild(['--import', 'tsx', ...args], {}, false);
  const port = await waitForLine(
    child,
    (line) => {
      try {
        const parsed = JSON.parse(line) as { port?: unknown };
        return typeof parsed.port === 'number' ? parsed.port : undefined;
      } catch {
        return undefined;
      }
    },
    30_000,
    what,
  );
  return { origin: `http://127.0.0.1:${port}`, pid: child.process.pid ?? 0, close: () => stopChild(child.process) };
}

export function startUpstreamProcess(options: { slowMs: number }): Promise<UpstreamProcess> {
  return startPortPrintingChild(['bench/upstream.ts', '--port', '0', '--slow-ms', String(options.slowMs)], 'bench upstream');
}

/**
 * A reference relay of bench/reference-relay.ts in front of the fake upstream: the bare one, or
 * (`durable`) the one that keeps imagegate's billing guarantees in its own SQLite file; `workers` > 1
 * runs it as a node:cluster (its pid is then the primary's).
 */
export async function startReferenceRelayProcess(upstreamOrigin: string, options: { durable?: boolean; workers?: number } = {}): Promise<UpstreamProcess> {
  const args = ['bench/reference-relay.ts', '--upstream', upstreamOrigin, '--workers', String(options.workers ?? 1)];
  if (!options.durable) return startPortPrintingChild(args, 'reference relay');
  const dataDir = await mkdtemp(join(tmpdir(), 'imagegate-bench-relay-'));
  dataFolders.add(dataDir);
  const relay = await startPortPrintingChild([...args, '--data-dir', dataDir], 'durable reference relay');
  return {
    ...relay,
    close: () => relay.close(),
  };
}

/** One OpenAI-compatible channel per upstream route, each serving the catalog models its scenarios ask for. */
export interface BenchChannel {
  name: string;
  /** Path prefix on the upstream, e.g. `/small-url/v1`. */
  path: string;
  models: string[];
}

export interface GatewayProcess {
  url: string;
  pid: number;
  apiKey: string;
  /** Whether `apiKey` carries per-key rate limits (made through the admin API), so the limiter runs on every request. */
  rateLimited: boolean;
  dataDir: string;
  /** How it ran: compiled JavaScript (as in production) or the sources under tsx. */
  runtime: GatewayRuntime;
  /** RSS once it listened and the bench key was made, before any load, in bytes. */
  idleRssBytes: number;
  /** Starts a fresh peak-RSS and event-loop measurement. */
  resetMeasurements(): Promise<void>;
  /** Peak RSS since the last reset (VmHWM), in bytes. */
  peakRssBytes(): Promise<number>;
  probe(): Promise<ProbeReport>;
  /** CPU profiling of the gateway from now until stopProfile, which writes it to `file`. */
  startProfile(): Promise<void>;
  stopProfile(file: string): Promise<void>;
  /** The last errors the gateway logged (pino level ≥ 50), to explain a failed scenario. */
  recentErrors(): string[];
  close(): Promise<void>;
}

export function gatewayConfig(upstreamOrigin: string, channels: BenchChannel[], dataDir: string, workers = 1, databaseUrl?: string): Record<string, unknown> {
  return {
    server: { port: 0, host: '127.0.0.1', ...(workers > 1 ? { workers } : {}) },
    ...(databaseUrl === undefined ? {} : { database: { url: databaseUrl } }),
    storage: { data_dir: dataDir },
    log_level: 'info',
    channels: channels.map((channel) => ({
      name: channel.name,
      provider: 'openai',
      base_url: `${upstreamOrigin}${channel.path}`,
      api_key: upstreamApiKey,
      models: channel.models,
      // The fake is a relay that still serves every name it is sent (dall-e-2 included), as relays do.
      options: { serves_retired_models: true },
    })),
  };
}

/**
 * imagegate as it runs in production (`src/main.ts`), with auth (IMAGEGATE_API_KEYS), validation,
 * routing and the request log on; only the probe is added, preloaded from bench/.
 */
/**
 * A key made through the admin API as a paying customer's is: metered (a quota far above what any
 * run spends, so every request reserves and settles credits) and with rate limits far above any load
 * here, so the limiter does its work on every request (the IMAGEGATE_API_KEYS key is unlimited and
 * skips both). Undefined where this build has no admin API.
 */
async function createRateLimitedKey(gatewayUrl: string): Promise<string | undefined> {
  const response = await fetch(`${gatewayUrl}/admin/v1/keys`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${benchAdminToken}` },
    body: JSON.stringify({ name: 'bench', quota: benchQuotaCredits, rate_limits: benchRateLimits }),
  }).catch(() => undefined);
  if (response?.status !== 201) return undefined;
  const created = (await response.json()) as { secret?: unknown };
  return typeof created.secret === 'string' ? created.secret : undefined;
}

export async function startGatewayProcess(options: {
  upstreamOrigin: string;
  channels: BenchChannel[];
  /** Another checkout to run imagegate from (to compare before and after a change); default: this one. */
  gatewayRoot?: string;
  /** server.workers (node:cluster); default one process. */
  workers?: number;
  /** Compiled JavaScript (default, as production runs; see gateway-build.ts) or the sources under tsx. */
  runtime?: GatewayRuntime;
  /** database.url (e.g. a PostgreSQL schema of bench/postgres.ts); default the SQLite file in the data folder. */
  databaseUrl?: string;
  /** Flags for the gateway's node (added to GATEWAY_NODE_FLAGS from the environment). */
  nodeFlags?: string[];
  /** Sees every stdout line the gateway prints (its JSON log, and what a V8 trace flag prints). */
  onStdoutLine?: (line: string) => void;
  /** More environment for the gateway (IMAGEGATE_TASK_WORKERS=32 …), over the harness's own. */
  env?: Record<string, string>;
}): Promise<GatewayProcess> {
  const root = options.gatewayRoot ?? repositoryRoot;
  const runtime = options.runtime ?? 'compiled';
  const probe = pathToFileURL(join(repositoryRoot, 'bench', 'gateway-probe.mjs')).href;
  // V8 or Node flags for the gateway alone (a diagnosis: --trace-gc-nvp, --max-semi-space-size=8 …), never the harness's own.
  const flags = [...productionNodeFlags, ...(options.nodeFlags ?? []), ...(process.env['GATEWAY_NODE_FLAGS'] ?? '').split(' ').filter(Boolean)];
  const entry = [...flags, ...(runtime === 'compiled' ? ['--import', probe, compiledEntry(root)] : ['--import', 'tsx', '--import', probe, 'src/main.ts'])];
  const dataDir = await mkdtemp(join(tmpdir(), 'imagegate-bench-'));
  dataFolders.add(dataDir);
  const configFile = join(dataDir, 'imagegate.yaml');
  await writeFile(configFile, toYaml(gatewayConfig(options.upstreamOrigin, options.channels, join(dataDir, 'data'), options.workers, options.databaseUrl)));
  const child = startChild(
    entry,
    { ...options.env, IMAGEGATE_CONFIG: configFile, IMAGEGATE_API_KEYS: benchApiKey, IMAGEGATE_ADMIN_TOKEN: benchAdminToken, PORT: '0' },
    true,
    root,
  );
  child.onStdoutLine = options.onStdoutLine;
  const pid = child.process.pid ?? 0;
  let url: string;
  // With workers, the first one listens before the others have started (and compiled their code):
  // the gateway is ready once the primary says every worker listens.
  let address: string | undefined;
  let allListening = (options.workers ?? 1) <= 1;
  try {
    url = await waitForLine(
      child,
      (line) => {
        try {
          const parsed = JSON.parse(line) as { msg?: unknown; address?: unknown };
          if (parsed.msg === 'imagegate listening' && typeof parsed.address === 'string') address ??= parsed.address;
          if (parsed.msg === 'all workers listening') allListening = true;
          return allListening ? address : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
      'imagegate',
    );
  } catch (error) {
    await stopChild(child.process);
    await rm(dataDir, { recursive: true, force: true });
    dataFolders.delete(dataDir);
    throw error;
  }

  const ask = <T>(message: { type: string; file?: string }, answerType: string): Promise<T> =>
    new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`the gateway probe did not answer ${message.type}`)), 5_000);
      const onMessage = (answer: { type?: string }) => {
        if (answer.type !== answerType) return;
        clearTimeout(timer);
        child.process.off('message', onMessage);
        resolvePromise(answer as T);
      };
      child.process.on('message', onMessage);
      child.process.send(message);
    });

  const readStatusField = async (name: string): Promise<number> => {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    return match?.[1] === undefined ? 0 : Number(match[1]) * 1024;
  };
  // Where clear_refs cannot be written, the peak is what this sampling saw.
  const rateLimitedKey = await createRateLimitedKey(url);
  const idleRssBytes = await readStatusField('VmRSS');
  let polledPeak = 0;
  let clearRefsWorks = true;
  const sampler = setInterval(() => {
    void readStatusField('VmRSS').then((rss) => {
      polledPeak = Math.max(polledPeak, rss);
    });
  }, 100);
  sampler.unref();
  return {
    url,
    pid,
    apiKey: rateLimitedKey ?? benchApiKey,
    rateLimited: rateLimitedKey !== undefined,
    dataDir,
    runtime,
    idleRssBytes,
    async resetMeasurements() {
      // Writing 5 to clear_refs resets the kernel's peak-RSS mark (VmHWM) for this process.
      clearRefsWorks = await writeFile(`/proc/${pid}/clear_refs`, '5').then(
        () => true,
        () => false,
      );
      polledPeak = 0;
      await ask({ type: 'reset' }, 'reset-done');
    },
    async peakRssBytes() {
      polledPeak = Math.max(polledPeak, await readStatusField('VmRSS'));
      return clearRefsWorks ? Math.max(await readStatusField('VmHWM'), polledPeak) : polledPeak;
    },
    probe: () => ask<ProbeReport>({ type: 'report' }, 'report'),
    startProfile: () => ask<unknown>({ type: 'profile-start' }, 'profile-started').then(() => undefined),
    stopProfile: (file) => ask<unknown>({ type: 'profile-stop', file }, 'profile-stopped').then(() => undefined),
    recentErrors: () =>
      child.stdoutLines
        .filter((line) => {
          try {
            return ((JSON.parse(line) as { level?: number }).level ?? 0) >= 50;
          } catch {
            return false;
          }
        })
        .slice(-3),
    async close() {
      clearInterval(sampler);
      await stopChild(child.process);
    },
  };
}
