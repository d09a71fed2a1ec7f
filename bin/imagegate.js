#!/usr/bin/env node
// The `imagegate` command. Runs the compiled build (`npm run build` → dist/) with plain node when it
// exists; in a checkout without one, it compiles the TypeScript sources on the fly through tsx, so
// `npm install && npm start` works with no build step. Rebuild after changing or updating the sources.
import { existsSync } from 'node:fs';

const built = new URL('../dist/cli/main.js', import.meta.url);
let runCli;
if (existsSync(built)) {
  ({ runCli } = await import(built.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ runCli } = await import('../src/cli/main.ts'));
}
process.exit(await runCli(process.argv.slice(2)));
