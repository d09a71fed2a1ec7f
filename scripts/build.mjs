// `npm run build`: compiles src/ to plain JavaScript in dist/ (or the folder given as the first
// argument) with tsc, then copies every file under src/ that is not TypeScript (the SQL migrations,
// anything a module reads beside itself through import.meta.url) to the same place, so the compiled
// server finds it exactly as the sources do. catalog/*.yaml is read from the folder above the output
// (`../../catalog` from dist/config), which for dist/ is the package root: no copy needed.
// Run the result with plain node: `node dist/main.js`, or `node bin/imagegate.js`, which prefers it.

import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const source = join(root, 'src');
const target = resolve(process.argv[2] ?? join(root, 'dist'));

await rm(target, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', target], { stdio: 'inherit' });

async function* assets(folder) {
  for (const entry of await readdir(folder, { withFileTypes: true })) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'testing') yield* assets(path);
    } else if (!entry.name.endsWith('.ts')) yield path;
  }
}

let copied = 0;
for await (const path of assets(source)) {
  const destination = join(target, relative(source, path));
  await mkdir(dirname(destination), { recursive: true });
  await copyFile(path, destination);
  copied += 1;
}
process.stdout.write(`built ${relative(process.cwd(), target) || '.'}: compiled src/ and copied ${copied} asset file(s)\n`);
