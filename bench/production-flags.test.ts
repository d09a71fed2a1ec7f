// The bench runs the gateway with the node flags production runs it with (bench/processes.ts's
// productionNodeFlags): every production command the repository gives must pass exactly those.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { productionNodeFlags, repositoryRoot } from './processes.js';

const read = (file: string) => readFile(join(repositoryRoot, file), 'utf8');

/** The words of a command line between `node` and the script it runs. */
function flagsOf(command: string, script: string): string[] {
  const words = command.trim().split(/\s+/);
  const node = words.findIndex((word) => word === 'node' || word.endsWith('/node'));
  const entry = words.indexOf(script, node);
  expect(node, command).toBeGreaterThanOrEqual(0);
  expect(entry, command).toBeGreaterThan(node);
  return words.slice(node + 1, entry);
}

describe('production node flags', () => {
  it('npm start passes them', async () => {
    const start = (JSON.parse(await read('package.json')) as { scripts: Record<string, string> }).scripts['start'] ?? '';
    expect(flagsOf(start, 'bin/imagegate.js')).toEqual(productionNodeFlags);
  });

  it("the Dockerfile's CMD passes them", async () => {
    const cmd = /^CMD (\[.*\])$/m.exec(await read('Dockerfile'))?.[1] ?? '[]';
    expect(flagsOf((JSON.parse(cmd) as string[]).join(' '), 'dist/main.js')).toEqual(productionNodeFlags);
  });

  it("the README's production commands and systemd unit pass them", async () => {
    const readme = await read('README.md');
    const commands = readme.split('\n').filter((line) => /(^|\s|=|\/)node\s.*dist\/main\.js/.test(line) && !line.includes('npm ci'));
    expect(commands.length).toBeGreaterThanOrEqual(2);
    for (const line of commands) expect(flagsOf(line.replace(/^ExecStart=/, '').replace(/`/g, ' '), 'dist/main.js'), line).toEqual(productionNodeFlags);
  });
});
