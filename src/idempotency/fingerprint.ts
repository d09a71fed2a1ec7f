// The hash that decides whether a request with a known Idempotency-Key is "the same request":
// canonical JSON (sorted keys) of its method, path, query and fields, with file bytes as their sha256.

import { createHash } from 'node:crypto';

function canonical(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return { sha256: createHash('sha256').update(value).digest('hex') };
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}

export function requestFingerprint(parts: Record<string, unknown>): string {
  return createHash('sha256').update(JSON.stringify(canonical(parts))).digest('hex');
}
