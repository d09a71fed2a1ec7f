// Issue 9, items 18 and 20: the `imagegate` command as an operator types it. Every command and
// subcommand answers --help with its usage and exit 0, and an unknown flag exits 2 before anything
// happens (no server started, no request sent). `channels test` names the host that was refused and
// every test is logged.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../../src/cli/gateway-http.js';
import { createChannelsCommand } from '../../../src/cli/commands/channels.js';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../../src/testing/fakes/bfl.js';
import { startFakeServer, type FakeServer } from '../../../src/testing/fakes/shared.js';
import type { TestGateway } from '../../../src/testing/gateway-harness.js';
import { adminToken, startBillingGateway } from '../billing-support.js';

const root = new URL('../../../', import.meta.url).pathname;

function imagegate(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['bin/imagegate.js', ...args], { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('item 18: --help everywhere, unknown flags refused without side effects', () => {
  let watcher: FakeServer;
  let folder: string;
  beforeAll(async () => {
    // Stands where a gateway would be: any request a command sends shows up here.
    watcher = await startFakeServer((_request, response) => void response.writeHead(500).end());
    folder = await mkdtemp(join(tmpdir(), 'imagegate-cli-flags-'));
  });
  afterAll(async () => {
    await watcher.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('answers --help with a usage text and exit 0, and starts nothing', { timeout: 90_000 }, async () => {
    const dataDir = join(folder, 'help-data');
    const env = { IMAGEGATE_BASE_URL: watcher.url, IMAGEGATE_ADMIN_TOKEN: 'admin-token', IMAGEGATE_API_KEY: 'sk-x', IMAGEGATE_DATA_DIR: dataDir, PORT: '0' };
    const cases = [['--help'], ['serve', '--help'], ['serve', '-h'], ['keys', '--help'], ['keys', 'list', '--help'], ['channels', '--help'], ['channels', 'test', '--help'], ['tasks', '--help'], ['tasks', 'get', '--help'], ['generate', '--help']];
    const runs = await Promise.all(cases.map((args) => imagegate(args, env)));
    for (const [index, run] of runs.entries()) {
      expect({ args: cases[index], code: run.code, stderr: run.stderr }).toEqual({ args: cases[index], code: 0, stderr: '' });
      expect(run.stdout).toMatch(/^usage: imagegate/);
    }
    expect(watcher.requests).toHaveLength(0);
    expect(await readdir(dataDir).catch(() => 'absent')).toBe('absent');
  });

  it('refuses an unknown flag with exit 2 and a message, before any request or start', { timeout: 90_000 }, async () => {
    const dataDir = join(folder, 'flag-data');
    const env = { IMAGEGATE_BASE_URL: watcher.url, IMAGEGATE_ADMIN_TOKEN: 'admin-token', IMAGEGATE_API_KEY: 'sk-x', IMAGEGATE_DATA_DIR: dataDir, PORT: '0' };
    const cases = [['serve', '--port', '9'], ['serve', 'now'], ['keys', 'list', '--bogus'], ['keys', '--bogus', 'create', '--name', 'x'], ['channels', 'test', 'main', '--bogus'], ['tasks', 'list', '--bogus'], ['generate', 'a cat', '--bogus']];
    const runs = await Promise.all(cases.map((args) => imagegate(args, env)));
    for (const [index, run] of runs.entries()) {
      expect({ args: cases[index], code: run.code }).toEqual({ args: cases[index], code: 2 });
      expect(run.stderr).toMatch(/imagegate.*(Unknown option|Unexpected argument|unexpected)/i);
    }
    expect(watcher.requests).toHaveLength(0);
    expect(await readdir(dataDir).catch(() => 'absent')).toBe('absent');
  });
});

describe('item 20: channels test names the refused host and is logged', () => {
  let fake: BflFake;
  let gateway: TestGateway;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    // BFL answers with a polling URL on another host (a shard); here `localhost`, which the SSRF guard
    // refuses when private networks are not allowed — the configured 127.0.0.1 is trusted as the channel's host.
    fake = await startBflFake();
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    gateway = await startBillingGateway(
      { allowPrivateNetworks: false, channels: [{ name: 'bfl-main', provider: 'bfl', base_url: fake.url, api_key: bflFakeApiKey, models: ['flux-1.1-pro'], poll_interval_ms: 20 }] },
      { logger: pino({ level: 'info' }, sink) },
    );
  });
  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  it('blames the polling host, not the configured address, and logs the failed test', async () => {
    let stdout = '';
    const io = (): CliIo => ({
      env: { IMAGEGATE_BASE_URL: gateway.url, IMAGEGATE_ADMIN_TOKEN: adminToken },
      stdout: { write: (text: string) => (stdout += text) },
      stderr: { write: () => undefined },
      fetch: globalThis.fetch,
    });
    const code = await createChannelsCommand(io).run(['test', 'bfl-main']);
    expect(code, stdout).toBe(1);
    const pollingOrigin = `http://localhost:${new URL(fake.url).port}`;
    expect(stdout).toMatch(new RegExp(`: ${pollingOrigin} (is not a public address|resolves to an address that is not public|names a local host)\\n$`));
    expect(stdout).not.toContain('is configured with an address');
    const logged = logLines.find((line) => line.event === 'channel_test');
    expect(logged).toMatchObject({ level: 40, channel: 'bfl-main', ok: false, code: 'upstream_error' });
    expect(String(logged?.error)).toContain(pollingOrigin);
  });
});
