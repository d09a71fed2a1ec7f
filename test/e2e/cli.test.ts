// The `imagegate generate` and `imagegate tasks` commands, run as real processes (`node
// bin/imagegate.js …`) against a gateway in this process: files written, paths printed, progress on
// stderr, errors as one line with a non-zero exit.

import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { startTestGateway, testApiKey, type TestGateway } from '../../src/testing/gateway-harness.js';
import { call } from './task-helpers.js';

const root = new URL('../../', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI asynchronously: the gateway it talks to lives in this very event loop. */
function imagegate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/imagegate.js', ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

let gateway: TestGateway;
let fake: BflFake;
let folder: string;

beforeAll(async () => {
  fake = await startBflFake({ switches: { pollsBeforeReady: 2, taskError: 'the GPU caught fire' } });
  gateway = await startTestGateway({
    offlineLatencyMs: 300,
    channels: [
      { name: 'bfl', provider: 'bfl', base_url: fake.url, api_key: bflFakeApiKey, models: ['flux-1.1-pro'], poll_interval_ms: 20 },
      { name: 'offline', provider: 'offline', models: ['gpt-image-1', 'dall-e-3', 'dall-e-2'] },
    ],
  });
  folder = await mkdtemp(join(tmpdir(), 'imagegate-cli-'));
});
afterAll(async () => {
  await gateway.close();
  await fake.close();
  await rm(folder, { recursive: true, force: true });
});

describe('imagegate generate', () => {
  it('writes the images, prints their paths, and reports progress on stderr', { timeout: 60_000 }, async () => {
    const output = join(folder, 'out');
    const run = await imagegate([
      'generate',
      'a lighthouse at dusk',
      '--model',
      'gpt-image-1',
      '--size',
      '1536x1024',
      '-n',
      '2',
      '-o',
      output,
      '--base-url',
      gateway.url,
      '--api-key',
      testApiKey,
      '--poll-ms',
      '100',
    ]);
    expect(run.stderr).toMatch(/task_\w+ (queued|in progress|\d+%)/);
    expect(run.stderr).toMatch(/task_\w+ succeeded \(\d+\.\d+s\)/);
    expect(run.code).toBe(0);
    const paths = run.stdout.trim().split('\n');
    expect(paths).toHaveLength(2);
    expect((await readdir(output)).sort()).toEqual(paths.map((path) => path.slice(output.length + 1)).sort());
    for (const path of paths) {
      expect(path.endsWith('.png')).toBe(true);
      const meta = await sharp(path).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 1536, 1024]);
    }
    // The task it made is an ordinary task of the key.
    const taskId = /task_\w+/.exec(paths[0] ?? '')?.[0] ?? '';
    expect((await call(gateway.url, `/v1/images/tasks/${taskId}`, { key: testApiKey })).body.status).toBe('succeeded');
  });

  it('takes the gateway and key from the environment and downloads url results', { timeout: 60_000 }, async () => {
    const output = join(folder, 'env');
    const run = await imagegate(['generate', 'a red kite', '-m', 'dall-e-2', '-s', '256x256', '-o', output, '--aspect-ratio', '1:1'], {
      IMAGEGATE_BASE_URL: gateway.url,
      IMAGEGATE_API_KEY: testApiKey,
    });
    expect(run.code).toBe(0);
    const [path] = run.stdout.trim().split('\n');
    const meta = await sharp(path ?? '').metadata();
    expect([meta.width, meta.height]).toEqual([256, 256]);
  });

  it('exits non-zero with the error message: a rejected request, a failed task, a missing key', { timeout: 60_000 }, async () => {
    const common = ['--base-url', gateway.url, '--api-key', testApiKey, '-o', join(folder, 'never')];
    const [rejected, failed, keyless] = await Promise.all([
      imagegate(['generate', 'x', '--model', 'dall-e-3', '--size', '512x512', ...common]),
      imagegate(['generate', 'doomed', '--model', 'flux-1.1-pro', '--poll-ms', '50', ...common]),
      imagegate(['generate', 'x', '--base-url', gateway.url]),
    ]);
    expect(rejected.code).toBe(1);
    expect(rejected.stderr).toContain("Invalid value for 'size'");
    expect(rejected.stderr).toContain('HTTP 400');
    expect(rejected.stdout).toBe('');
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('the GPU caught fire');
    expect(failed.stdout).toBe('');
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toContain('IMAGEGATE_API_KEY');
  });
});

describe('imagegate tasks', () => {
  it('lists, shows and cancels tasks', { timeout: 60_000 }, async () => {
    const slow = await startTestGateway({ offlineLatencyMs: 20_000 });
    try {
      const submitted = await call(slow.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-2', prompt: 'cancel me', size: '256x256' } });
      const id: string = submitted.body.id;
      const env = { IMAGEGATE_BASE_URL: slow.url, IMAGEGATE_API_KEY: testApiKey };
      const [list, get] = await Promise.all([imagegate(['tasks', 'list'], env), imagegate(['tasks', 'get', id], env)]);
      expect(list.code).toBe(0);
      expect(list.stdout).toMatch(new RegExp(`^ID\\s+STATUS\\s+PROGRESS\\s+MODEL\\s+CREATED\\n${id}\\s+(queued|in_progress)\\s+\\d+%\\s+dall-e-2`));
      expect(get.code).toBe(0);
      expect(get.stdout).toContain(`id:         ${id}`);

      const cancel = await imagegate(['tasks', 'cancel', id], env);
      expect(cancel.code).toBe(0);
      expect(cancel.stdout).toContain('status:     canceled');
      expect((await call(slow.url, `/v1/images/tasks/${id}`, { key: testApiKey })).body.status).toBe('canceled');

      const [missing, json] = await Promise.all([imagegate(['tasks', 'get', 'task_nope'], env), imagegate(['tasks', 'list', '--status', 'canceled', '--json'], env)]);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toContain("No task found with id 'task_nope'");
      expect(JSON.parse(json.stdout).data.map((task: { id: string }) => task.id)).toEqual([id]);
    } finally {
      await slow.close();
    }
  });
});
