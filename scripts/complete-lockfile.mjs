// Adds lockfile entries for platform-specific optional packages the npm registry mirror here does not
// serve (it carries only the linux x64/arm64 glibc builds of rollup). `npm install` leaves them out
// of package-lock.json, after which `npm ci` refuses the lockfile as out of sync. The added entries
// carry the os/cpu/libc of their platform, so npm skips them on every other machine without fetching.
// Run after any `npm install` that rewrites the lockfile: `node scripts/complete-lockfile.mjs`.
import { readFileSync, writeFileSync } from 'node:fs';

const lockPath = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

const cpuAliases = { 'arm-eabi': 'arm', 'arm-gnueabihf': 'arm', 'arm-musleabihf': 'arm', 'arm64-gnu': 'arm64', 'arm64-musl': 'arm64', 'arm64-msvc': 'arm64', 'ia32-msvc': 'ia32', 'x64-gnu': 'x64', 'x64-musl': 'x64', 'x64-msvc': 'x64' };

/** rollup-linux-arm-musleabihf → { os: linux, cpu: arm, libc: musl } */
function platformOf(name) {
  const match = /^@rollup\/rollup-([a-z0-9]+)-(.+)$/.exec(name);
  if (!match) return undefined;
  const [, os, rest] = match;
  const cpu = cpuAliases[rest] ?? rest;
  const libc = /musl/.test(rest) ? 'musl' : os === 'linux' && /gnu/.test(rest) ? 'glibc' : undefined;
  return { os, cpu, libc };
}

let added = 0;
for (const [path, entry] of Object.entries(packages)) {
  for (const [dependency, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const platform = platformOf(dependency);
    if (!platform) continue;
    const base = path === '' ? 'node_modules/' : `${path}/node_modules/`;
    if (packages[`${base}${dependency}`] || packages[`node_modules/${dependency}`]) continue;
    packages[`node_modules/${dependency}`] = {
      version,
      cpu: [platform.cpu],
      ...(entry.dev ? { dev: true } : {}),
      ...(platform.libc ? { libc: [platform.libc] } : {}),
      license: 'MIT',
      optional: true,
      os: [platform.os],
    };
    added += 1;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a < b ? -1 : a > b ? 1 : 0)));
writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform entries`);
