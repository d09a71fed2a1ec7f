// The gateway as an operator runs it: `node --import tsx src/main.ts` in a child process.
// A first start with no key prints one key and a curl command that really returns an image; a
// second start prints none; a bad config exits with code 2 naming the key; secrets never reach the
// output even at log level debug; SIGTERM lets an in-flight request finish, then exits 0.

import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { providerNames } from '../../src/config/provider-names.js';
import { startFakeServer, sendJson, type FakeServer } from '../../src/testing/fakes/shared.js';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startHeldUpstream, type HeldUpstream } from './hardening/held-upstream.js';

const repositoryRoot = join(import.meta.dirname, '..', '..');
// Child starts compile TypeScript on the fly and may share a busy machine: allow for that.
const startTimeoutMs = 45_000;

interface GatewayProcess {
  child: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects if the process exits first. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts main.ts with exactly the given environment (plus PATH/HOME), so nothing leaks in from the test runner. */
function startGatewayProcess(env: Record<string, string>): GatewayProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: repositoryRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let closed = false;
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer) => {
    output += chunk.toString('utf8');
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close', not 'exit': by then everything the process wrote has been read.
    child.on('close', (code, signal) => {
      closed = true;
      resolve({ code, signal });
      for (const listener of listeners) listener();
    });
  });
  return {
    child,
    output: () => output,
    exited,
    waitFor(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = pattern.exec(output);
          if (match) {
            listeners.delete(check);
            resolve(match);
          } else if (closed) {
            listeners.delete(check);
            reject(new Error(`the gateway exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}; output:\n${output}`));
          }
        };
        listeners.add(check);
        check();
      });
    },
  };
}

/** The address from the "imagegate listening" log line (PORT=0 picks a free port). */
async function listeningAddress(gateway: GatewayProcess): Promise<string> {
  const match = await gateway.waitFor(/\{[^\n]*"msg":"imagegate listening"[^\n]*\}\n/);
  return (JSON.parse(match[0]) as { address: string }).address;
}

async function stop(gateway: GatewayProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (gateway.child.exitCode === null && gateway.child.signalCode === null) gateway.child.kill('SIGTERM');
  return gateway.exited;
}

/** A request on a fresh connection (no pooled keep-alive socket), for "is it still accepting?". */
function freshRequest(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function runBash(command: string, cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', command], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

let folder: string;
const running: GatewayProcess[] = [];

let portHolder: Server;
let portInUseStart: GatewayProcess;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-startup-'));
  void launchBadStart('bad-provider', badProvider);
  void launchBadStart('bad-alias', badAlias);
  // A first start on a port someone else holds.
  portHolder = createServer();
  await new Promise<void>((resolve) => portHolder.listen(0, '127.0.0.1', resolve));
  portInUseStart = startGatewayProcess({ IMAGEGATE_DATA_DIR: join(folder, 'port-in-use-data'), PORT: String((portHolder.address() as AddressInfo).port) });
  running.push(portInUseStart);
});
afterAll(async () => {
  await Promise.all(running.map(stop));
  await new Promise((resolve) => portHolder.close(resolve));
  await rm(folder, { recursive: true, force: true });
});

describe('first start, second start, shutdown', () => {
  const dataDir = () => join(folder, 'data');
  let bootstrapKey = '';
  let upstream: OpenAIFake;
  let echoingUpstream: FakeServer;
  let heldUpstream: HeldUpstream;
  const channelKey = 'sk-channel-secret-4b9e0c1d7a2f6e83';
  const echoedChannelKey = 'sk-echoed-channel-secret-91c3f5a7d2e0';

  beforeAll(async () => {
    // Answers 401: its own key is another one.
    upstream = await startOpenAIFake();
    // An upstream that, like some do, repeats the whole key it was sent in its error body.
    heldUpstream = await startHeldUpstream();
    echoingUpstream = await startFakeServer((request, response) => {
      const presented = String(request.headers.authorization ?? '');
      sendJson(response, 401, { error: { message: `Incorrect API key provided: ${presented}`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' } });
    });
  });
  afterAll(async () => {
    await upstream.close();
    await echoingUpstream.close();
    await heldUpstream.close();
  });

  it(
    'prints a key once on a first start, with a curl command that returns an image',
    async () => {
      const gateway = startGatewayProcess({ IMAGEGATE_DATA_DIR: dataDir() });
      running.push(gateway);
      await listeningAddress(gateway);
      const printed = await gateway.waitFor(/\n {2}(sk-[A-Za-z0-9_-]{20,})\n[\s\S]*?\n( {2}curl [\s\S]*?wrote image\.png[^\n]*)\n/);
      bootstrapKey = printed[1] ?? '';
      const curlCommand = printed[2] ?? '';
      expect(curlCommand).toContain(bootstrapKey);

      // The command exactly as printed, run where a newcomer would run it.
      const workdir = await mkdtemp(join(folder, 'curl-'));
      const result = await runBash(curlCommand, workdir);
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe('wrote image.png');
      const meta = await sharp(await readFile(join(workdir, 'image.png'))).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 1024, 1024]);

      expect(await stop(gateway)).toEqual({ code: 0, signal: null });
    },
    startTimeoutMs,
  );

  it('stored the printed key only as its hash', async () => {
    expect(bootstrapKey).not.toBe('');
    const file = join(dataDir(), 'imagegate.sqlite');
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT * FROM api_keys').all() as Array<Record<string, unknown>>;
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({ hash: sha256(bootstrapKey), source: 'bootstrap', enabled: 1 });
      expect(JSON.stringify(rows)).not.toContain(bootstrapKey);
    } finally {
      db.close();
    }
    const bytes = Buffer.concat([await readFile(file), await readFile(`${file}-wal`).catch(() => Buffer.alloc(0))]);
    expect(bytes.includes(bootstrapKey)).toBe(false);
  });

  describe('a second start at log level debug, with upstream channels that refuse their keys', () => {
    let gateway: GatewayProcess;
    let address: string;

    beforeAll(async () => {
      const configFile = join(folder, 'channels.yaml');
      await writeFile(
        configFile,
        [
          'channels:',
          '  - name: refusing',
          '    provider: openai',
          `    base_url: ${upstream.url}/v1`,
          '    api_key: ${CHANNEL_KEY}',
          '    models: [gpt-image-1]',
          '  - name: echoing',
          '    provider: openai',
          `    base_url: ${echoingUpstream.url}/v1`,
          `    api_key: ${echoedChannelKey}`,
          '    models: [dall-e-3]',
          // Holds each image request until the test releases it: the drain test signals while one is in flight.
          '  - name: held',
          '    provider: openai',
          `    base_url: ${heldUpstream.baseUrl}`,
          '    api_key: sk-held-upstream-key-0123456789',
          '    models: [gpt-image-1-mini]',
        ].join('\n'),
      );
      gateway = startGatewayProcess({
        IMAGEGATE_DATA_DIR: dataDir(),
        IMAGEGATE_CONFIG: configFile,
        IMAGEGATE_LOG_LEVEL: 'debug',
        CHANNEL_KEY: channelKey,
      });
      running.push(gateway);
      address = await listeningAddress(gateway);
    }, startTimeoutMs);

    it('prints no key', () => {
      expect(gateway.output()).not.toContain('imagegate created one');
      expect(gateway.output()).not.toMatch(/\bsk-[A-Za-z0-9_-]{20,}/);
    });

    it('sends the channel keys upstream but never writes them, or the client key, to its output', async () => {
      const post = (body: unknown, authorization: string) =>
        fetch(`${address}/v1/images/generations`, {
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const refused = await post({ model: 'gpt-image-1', prompt: 'a secret' }, `Bearer ${bootstrapKey}`);
      expect(refused.status).toBeGreaterThanOrEqual(500);
      const echoed = await post({ model: 'dall-e-3', prompt: 'a secret' }, bootstrapKey);
      expect(echoed.status).toBeGreaterThanOrEqual(500);
      const refusedText = (await refused.text()) + (await echoed.text());
      const wrongClientKey = `${bootstrapKey}-wrong`;
      expect((await post({ model: 'dall-e-3', prompt: 'x' }, `Bearer ${wrongClientKey}`)).status).toBe(401);
      expect((await post({ model: 'dall-e-3', prompt: 'x', size: '1x1' }, bootstrapKey)).status).toBe(400);

      // The keys did travel: what follows is only meaningful if they could have leaked.
      expect(upstream.requests.some((request) => request.headers.authorization === `Bearer ${channelKey}`)).toBe(true);
      expect(echoingUpstream.requests.some((request) => request.headers.authorization === `Bearer ${echoedChannelKey}`)).toBe(true);

      // Debug output is on: wait for the last rejection's line, which arrives on another pipe than the response.
      await gateway.waitFor(/"level":20[^\n]*Invalid value for 'size'/);
      for (const secret of [channelKey, echoedChannelKey, bootstrapKey]) {
        expect(refusedText).not.toContain(secret);
        expect(gateway.output()).not.toContain(secret);
      }
    });

    it(
      'drains on SIGTERM: the in-flight request gets its image, new connections are turned away, the exit code is 0',
      async () => {
        const inFlight = fetch(`${address}/v1/images/generations`, {
          method: 'POST',
          headers: { authorization: `Bearer ${bootstrapKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'gpt-image-1-mini', prompt: 'a slow lighthouse', size: '1024x1024' }),
        });
        // Signalled once the request is known to be in flight: the held upstream has it.
        await heldUpstream.arrived();
        gateway.child.kill('SIGTERM');
        await gateway.waitFor(/draining in-flight requests/);

        const late = await freshRequest(`${address}/healthz`).then(
          (status) => ({ status }),
          (error: NodeJS.ErrnoException) => ({ error: error.code }),
        );
        expect([{ error: 'ECONNREFUSED' }, { error: 'ECONNRESET' }, { status: 503 }]).toContainEqual(late);

        heldUpstream.release();
        const response = await inFlight;
        expect(response.status).toBe(200);
        const body = (await response.json()) as { data: Array<{ b64_json: string }> };
        const meta = await sharp(Buffer.from(body.data[0]?.b64_json ?? '', 'base64')).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['png', 1024, 1024]);

        expect(await gateway.exited).toEqual({ code: 0, signal: null });
        for (const secret of [channelKey, echoedChannelKey, bootstrapKey]) expect(gateway.output()).not.toContain(secret);
      },
      startTimeoutMs,
    );
  });
});

// These processes only start and exit. They are launched with the file, so they run beside the
// longer story above; their tests, last in the file, only collect the results.
const badStarts: Record<string, Promise<GatewayProcess>> = {};

function launchBadStart(name: string, yaml: string): Promise<GatewayProcess> {
  badStarts[name] ??= (async () => {
    const configFile = join(folder, `${name}.yaml`);
    await writeFile(configFile, yaml);
    const gateway = startGatewayProcess({ IMAGEGATE_DATA_DIR: join(folder, `${name}-data`), IMAGEGATE_CONFIG: configFile });
    running.push(gateway);
    return gateway;
  })();
  return badStarts[name];
}

const badProvider = 'server:\n  port: 8080\nchannels:\n  - name: main\n    provider: openia\n    models: [gpt-image-1]\n';
const badAlias = 'catalog:\n  aliases:\n    dall-e-3: no-such-model\n';

describe('a start with a bad configuration', () => {
  it(
    'exits with code 2 and a message naming the bad key and what is expected',
    async () => {
      const gateway = await launchBadStart('bad-provider', badProvider);
      expect((await gateway.exited).code).toBe(2);
      expect(gateway.output()).toContain(
        `imagegate: configuration error: ${join(folder, 'bad-provider.yaml')}: 'channels[0].provider': expected one of ${providerNames.join(', ')}, got "openia"`,
      );
    },
    startTimeoutMs,
  );

  it(
    'exits with code 2 for a catalog alias to a model that does not exist',
    async () => {
      const gateway = await launchBadStart('bad-alias', badAlias);
      expect((await gateway.exited).code).toBe(2);
      expect(gateway.output()).toContain("imagegate: configuration error: configuration: catalog alias 'dall-e-3' points at unknown model 'no-such-model'");
    },
    startTimeoutMs,
  );
});

describe('a first start that cannot listen', () => {
  it(
    'still shows the key it created and stored, then exits with an error',
    async () => {
      const { code } = await portInUseStart.exited;
      expect(code).toBe(1);
      expect(portInUseStart.output()).toContain('EADDRINUSE');
      const printed = /\n {2}(sk-[A-Za-z0-9_-]{20,})\n/.exec(portInUseStart.output())?.[1] ?? '';
      const db = new Database(join(folder, 'port-in-use-data', 'imagegate.sqlite'), { readonly: true, fileMustExist: true });
      try {
        expect(db.prepare('SELECT hash FROM api_keys').all()).toEqual([{ hash: sha256(printed) }]);
      } finally {
        db.close();
      }
    },
    startTimeoutMs,
  );
});
