// The benchmark runs imagegate as production does: compiled JavaScript (`npm run build`, what
// bin/imagegate.js runs from dist/ when it exists), not the sources through the tsx loader, which
// costs memory (the compiler's output and source maps held) and some CPU (helpers esbuild adds to
// every function). The build goes to .bench-build/ beside dist/ (same depth, so it finds catalog/ and
// node_modules/ as dist/ does), never to dist/ itself: a dist/ left behind would be what
// bin/imagegate.js runs after the sources change. It is rebuilt before a run whenever a file under
// src/ is newer, so a stale build is never measured; `--runtime tsx` measures the sources instead.

import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export type GatewayRuntime = 'compiled' | 'tsx';

const buildFolder = (root: string): string => join(root, '.bench-build');

/** The compiled entry point of a checkout's bench build. */
export const compiledEntry = (root: string): string => join(buildFolder(root), 'main.js');

async function newestModification(folder: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    const modified = entry.isDirectory() ? await newestModification(path) : (await stat(path)).mtimeMs;
    newest = Math.max(newest, modified);
  }
  return newest;
}

/** Builds `root`/.bench-build with the checkout's own build script unless it is newer than every source file. */
export async function ensureCompiledGateway(root: string, log: (line: string) => void): Promise<void> {
  const built = await stat(compiledEntry(root)).then(
    (entry) => entry.mtimeMs,
    () => undefined,
  );
  if (built !== undefined && built >= (await newestModification(join(root, 'src')))) return;
  log(`${built === undefined ? 'building' : 'src/ changed: rebuilding'} .bench-build/ (npm run build): imagegate runs compiled, as in production`);
  await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build.mjs'), buildFolder(root)], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
}
