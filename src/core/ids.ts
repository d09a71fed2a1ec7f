// Ids the gateway makes for rows it writes on the request path.

import { randomFillSync } from 'node:crypto';

/**
 * 32 hex digits: the time in milliseconds (12 digits), then 80 bits from a random UUID (its fixed
 * version digit left out). Unique as a UUID is, and in creation order: B-tree indexes take ordered
 * keys at their right edge, where a random key lands on any page of a large index and dirties (and
 * writes to the WAL) a page of its own per row (bench/micro: the request log's CPU per row and
 * billing's per request fell by a third to a half; docs/performance.md, target 1).
 */
export function timeOrderedHex(): string {
  return `${Date.now().toString(16).padStart(12, '0')}${randomHex10()}`;
}

// The 80 random bits come from a pool of CSPRNG bytes refilled 4 KB at a time (as randomUUID does
// internally), hex-encoded straight from it: one string per id instead of a UUID, its dash-less copy
// and two slices (ids are made two or three times per request).
const poolBytes = 4096;
const randomBytesPerId = 10;
const pool = Buffer.allocUnsafeSlow(poolBytes);
let poolOffset = poolBytes;

function randomHex10(): string {
  if (poolOffset + randomBytesPerId > poolBytes) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const hex = pool.toString('hex', poolOffset, poolOffset + randomBytesPerId);
  poolOffset += randomBytesPerId;
  return hex;
}
