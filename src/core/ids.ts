// Ids the gateway makes for rows it writes on the request path.

import { randomUUID } from 'node:crypto';

/**
 * 32 hex digits: the time in milliseconds (12 digits), then 80 bits from a random UUID (its fixed
 * version digit left out). Unique as a UUID is, and in creation order: B-tree indexes take ordered
 * keys at their right edge, where a random key lands on any page of a large index and dirties (and
 * writes to the WAL) a page of its own per row (bench/micro: the request log's CPU per row and
 * billing's per request fell by a third to a half; docs/performance.md, target 1).
 */
export function timeOrderedHex(): string {
  const random = randomUUID().replaceAll('-', '');
  return `${Date.now().toString(16).padStart(12, '0')}${random.slice(0, 12)}${random.slice(13, 21)}`;
}
