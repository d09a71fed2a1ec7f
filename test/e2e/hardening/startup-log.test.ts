// Issue 9, item 19: what an operator reads in the start-up log (journald, docker logs). Every
// route is listed, failover channels included; with an admin token set no bootstrap key is created
// or printed.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = new URL('../../../', import.meta.url).pathname;
let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-startup-log-'));
});
afterAll(async () => rm(folder, { recursive: true, force: true }));

describe('item 19: the start-up log', () => {
  it('lists every route with its failover channels, and with an admin token creates and prints no key', { timeout: 60_000 }, async () => {
    const config = join(folder, 'config.yaml');
    await writeFile(
      config,
      [
        'channels:',
        '  - { name: primary, provider: openai, base_url: "https://primary.example/v1", api_key: sk-primary-0123456789abcdef, models: [dall-e-3, gpt-image-1], priority: 10 }',
        '  - { name: backup, provider: openai, base_url: "https://backup.example/v1", api_key: sk-backup-0123456789abcdef, models: [dall-e-3], priority: 1 }',
        '  - { name: local, provider: offline, models: [dall-e-2] }',
      ].join('\n'),
    );
    const dataDir = join(folder, 'data');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: root,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', IMAGEGATE_CONFIG: config, IMAGEGATE_DATA_DIR: dataDir, IMAGEGATE_ADMIN_TOKEN: 'admin-token-0123456789', PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        const check = () => (output.includes('no API key exists yet') ? resolve() : undefined);
        child.stdout.on('data', check);
        child.on('close', () => reject(new Error(`exited before listening:\n${output}`)));
      });
      const listening = JSON.parse(output.split('\n').find((line) => line.includes('"imagegate listening"')) ?? '{}') as { routes: Array<{ channel: string; models: string[] }> };
      const byChannel = Object.fromEntries(listening.routes.map((route) => [route.channel, route.models]));
      expect(byChannel.primary).toEqual(['dall-e-3', 'gpt-image-1']);
      expect(byChannel.backup).toEqual(['dall-e-3 (failover 2)']);
      expect(byChannel.local).toEqual(['dall-e-2']);
      expect(byChannel.none).toContain('flux-kontext-pro');
      expect(output).toMatch(/backup \(openai, configured\) serves dall-e-3 \(failover 2\)/);

      expect(output).not.toContain('imagegate created one');
      expect(output).not.toMatch(/\bsk-[A-Za-z0-9_-]{20,}/);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    const db = new Database(join(dataDir, 'imagegate.sqlite'), { readonly: true });
    try {
      expect(db.prepare('SELECT COUNT(*) AS n FROM api_keys').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});
