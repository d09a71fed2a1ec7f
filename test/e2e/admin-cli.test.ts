// The `imagegate keys` and `imagegate channels` commands against a running gateway: what an
// operator types, what they read back, and the exit codes.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../src/cli/gateway-http.js';
import { createChannelsCommand } from '../../src/cli/commands/channels.js';
import { createKeysCommand } from '../../src/cli/commands/keys.js';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import type { TestGateway } from '../../src/testing/gateway-harness.js';
import { adminToken, cheapImage, cheapImageCredits, generate, startBillingGateway } from './billing-support.js';

let gateway: TestGateway;
let fake: OpenAIFake;

beforeAll(async () => {
  // A relay that still serves dall-e-3.
  fake = await startOpenAIFake({ servesRetiredModels: true });
  gateway = await startBillingGateway({
    channels: [
      { name: 'openai-main', provider: 'openai', base_url: `${fake.url}/v1`, api_key: fake.apiKey, models: ['dall-e-3'], options: { serves_retired_models: true } },
      { name: 'offline', provider: 'offline', models: ['dall-e-2'] },
    ],
  });
});
afterAll(async () => {
  await gateway.close();
  await fake.close();
});

/** Runs a command in-process with the gateway's address in the environment; answers exit code and output. */
async function run(command: 'keys' | 'channels', argv: string[], env: Record<string, string> = { IMAGEGATE_BASE_URL: gateway.url, IMAGEGATE_ADMIN_TOKEN: adminToken }) {
  let stdout = '';
  let stderr = '';
  const io = (): CliIo => ({
    env,
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    fetch: globalThis.fetch,
  });
  const cli = command === 'keys' ? createKeysCommand(io) : createChannelsCommand(io);
  const code = await cli.run(argv);
  return { code, stdout, stderr };
}

describe('imagegate keys', () => {
  it('creates a key, prints its secret once, lists it, tops it up and revokes it', async () => {
    const created = await run('keys', ['create', '--name', 'cli-customer', '--quota-usd', '0.016', '--models', 'dall-e-2', '--rpm', '30', '--json']);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; secret: string; balance: number; allowed_models: string[]; rate_limits: { requests_per_minute: number } };
    expect([key.balance, key.allowed_models, key.rate_limits.requests_per_minute]).toEqual([16_000, ['dall-e-2'], 30]);
    expect((await generate(gateway, key.secret, cheapImage)).status).toBe(200);

    const table = await run('keys', ['list']);
    expect(table.code).toBe(0);
    const line = table.stdout.split('\n').find((row) => row.startsWith(key.id)) ?? '';
    expect(line).toMatch(/cli-customer\s+sk-\S+\s+active\s+0 \(\$0\)\s+dall-e-2\s+30 rpm\s+default/);
    expect(table.stdout).not.toContain(key.secret);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+PREFIX\s+STATUS\s+QUOTA/);

    const topup = await run('keys', ['topup', key.id, '--credits', String(2 * cheapImageCredits), '--note', 'cli']);
    expect([topup.code, topup.stdout]).toEqual([0, `added 32000 credits ($0.032) to ${key.id}; balance 32000 credits ($0.032)\n`]);
    expect((await generate(gateway, key.secret, cheapImage)).status).toBe(200);

    const revoked = await run('keys', ['revoke', key.id]);
    expect([revoked.code, revoked.stdout]).toEqual([0, `revoked ${key.id} (cli-customer)\n`]);
    expect((await generate(gateway, key.secret, cheapImage)).status).toBe(401);
  });

  it('prints the human-readable secret line on create', async () => {
    const created = await run('keys', ['create', '--name', 'readable', '--unlimited']);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/readable\s+sk-\S+\s+active\s+unlimited/);
    expect(created.stdout).toMatch(/secret \(shown only this once; keep it\): sk-[\w-]{40,}\n$/);
  });

  it('reports the gateway’s error and exits 1; usage mistakes exit 2', async () => {
    const wrongToken = await run('keys', ['list', '--admin-token', 'wrong'], { IMAGEGATE_BASE_URL: gateway.url });
    expect([wrongToken.code, wrongToken.stderr]).toEqual([1, 'imagegate: Incorrect admin token provided. (HTTP 401)\n']);
    const unknownKey = await run('keys', ['topup', 'key_missing', '--credits', '5']);
    expect([unknownKey.code, unknownKey.stderr]).toEqual([1, "imagegate: No API key with id 'key_missing'. (HTTP 404)\n"]);
    expect((await run('keys', ['create'])).code).toBe(2);
    expect((await run('keys', ['topup', 'key_x', '--credits', '1.5'])).code).toBe(2);
    expect((await run('keys', ['list', '--colour'])).code).toBe(2);
    expect((await run('keys', ['list'], { IMAGEGATE_BASE_URL: gateway.url })).stderr).toMatch(/admin token is needed/);
    const unreachable = await run('keys', ['list', '--base-url', 'http://127.0.0.1:1', '--admin-token', adminToken], {});
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(/cannot reach http:\/\/127\.0\.0\.1:1/);
  });
});

describe('imagegate channels', () => {
  it('lists channels as a table and as JSON', async () => {
    const listed = await run('channels', ['list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^NAME\s+PROVIDER\s+STATUS/);
    expect(listed.stdout).toMatch(/openai-main\s+openai\s+enabled\s+0\s+1\s+closed\s+dall-e-3/);
    const json = JSON.parse((await run('channels', ['list', '--json'])).stdout) as { data: Array<{ name: string; api_keys: string[] }> };
    expect(json.data.map((channel) => channel.name)).toEqual(['offline', 'openai-main']);
    expect(JSON.stringify(json)).not.toContain(fake.apiKey);
  });

  it('tests a channel: ok exits 0, a failing upstream exits 1 with its error', async () => {
    const ok = await run('channels', ['test', 'openai-main']);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: openai-main generated dall-e-3 \(upstream dall-e-3\) as png in \d+ ms\n$/);
    fake.switches.failStatus = 401;
    try {
      const failed = await run('channels', ['test', 'openai-main']);
      expect(failed.code).toBe(1);
      expect(failed.stdout).toMatch(/^failed: openai-main dall-e-3 .*upstream_auth_failed/);
    } finally {
      delete fake.switches.failStatus;
    }
    expect((await run('channels', ['test', 'nope'])).stderr).toMatch(/No channel named 'nope'. \(HTTP 404\)/);
  });

  it('runs as the real `imagegate` executable', async () => {
    const bin = fileURLToPath(new URL('../../bin/imagegate.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'channels', 'list', '--base-url', gateway.url], {
      env: { ...process.env, IMAGEGATE_ADMIN_TOKEN: adminToken },
    });
    expect(stdout).toMatch(/openai-main\s+openai\s+enabled/);
  }, 20_000);
});
