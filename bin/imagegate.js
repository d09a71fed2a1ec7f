#!/usr/bin/env node
// Runs the TypeScript CLI through tsx (a runtime dependency), so `npx imagegate …` works from a checkout.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/main.ts');
process.exit(await runCli(process.argv.slice(2)));
