// Runs once before the tests: builds the console's assets when missing or older than console/, so
// the browser tests (and /console in any test) serve the current code.

// @ts-expect-error -- a plain .mjs script without type declarations
import { buildConsole } from '../scripts/build-console.mjs';

export default async function setup(): Promise<void> {
  await (buildConsole as (options: { ifStale: boolean }) => Promise<boolean>)({ ifStale: true });
}
