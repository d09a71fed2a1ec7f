// Redis in tests: the machine's Redis (127.0.0.1:6379, or IMAGEGATE_TEST_REDIS_URL), with a unique key
// prefix per test so suites run side by side; only keys under that prefix are ever deleted.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';

export const testRedisUrl = process.env.IMAGEGATE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export function uniqueRedisPrefix(label: string): string {
  return `imagegate-test:${label}:${randomUUID().slice(0, 8)}:`;
}

/** Deletes every key under the prefix (SCAN, never FLUSHDB: the server is shared). */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  const client = new Redis(testRedisUrl, { lazyConnect: true });
  await client.connect();
  try {
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) await client.del(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
}
