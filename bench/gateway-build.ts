// The benchmark runs imagegate as production does: compiled JavaScript (`npm run build` → dist/, what
// bin/imagegate.js runs when it exists), not the sources through the tsx loader, which costs memory
// (the compiler's output and source maps held) and some CPU (helpers esbuild adds to every function).
// dist/ is rebuilt before a run whenever a file under src/ is newer than it, so a stale build is never
// measured; `--runtime tsx` measures the sources instead (to compare the two).

import { execFile } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export type GatewayRuntime = 'dist' | 'tsx';

/** The compiled entry point of a checkout. */
export const compiledEntry = (root: string): string => join(root, 'dist', 'main.js');

async function newestModification(folder: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    const modified = entry.isDirectory() ? await newestModification(path) : (await stat(path)).mtimeMs;
    newest = Math.max(newest, modified);
  }
  return newest;
}

/** Builds `root`/dist with the checkout's own `npm run build` unless it is newer than every source file. */
export async function ensureCompiledGateway(root: string, log: (line: string) => void): Promise<void> {
  const built = await stat(compiledEntry(root)).then(
    (entry) => entry.mtimeMs,
    () => undefined,
  );
  if (built !== undefined && built >= (await newestModification(join(root, 'src')))) return;
  log(built === undefined ? 'building dist/ (npm run build): imagegate runs compiled, as in production' : 'src/ changed since dist/ was built: rebuilding it (npm run build)');
  await promisify(execFile)(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, maxBuffer: 16 * 1024 * 1024 });
}
