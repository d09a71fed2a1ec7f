#!/usr/bin/env node
// Builds the console (console/ → dist/console-ui) with Vite. `--if-stale` builds only when the output
// is missing or older than a source file, so `npm start` and the tests pay for a build once.
// Used by `npm run build:console`, the `prepare` and `prestart` scripts, and the tests' global setup.

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const sourceDirectory = join(root, 'console');
const output = join(root, 'dist', 'console-ui', 'index.html');

function newestSource(directory) {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSource(path) : statSync(path).mtimeMs);
  }
  return newest;
}

export function consoleIsStale() {
  return !existsSync(output) || statSync(output).mtimeMs < newestSource(sourceDirectory);
}

export async function buildConsole({ ifStale = false } = {}) {
  if (ifStale && !consoleIsStale()) return false;
  const { build } = await import('vite');
  await build({ configFile: join(sourceDirectory, 'vite.config.ts'), logLevel: 'warn' });
  return true;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildConsole({ ifStale: process.argv.includes('--if-stale') });
  process.stdout.write(built ? 'console built into dist/console-ui\n' : 'console is up to date\n');
}
