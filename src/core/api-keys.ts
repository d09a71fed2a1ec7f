// API key secrets: how they are made, hashed and recognised. Only hashes are ever stored.

import { hash, randomBytes, randomUUID } from 'node:crypto';
import type { ApiKeyRecord, KeyStore } from './ports/key-store.js';

// crypto.hash, one call without a Hash object: a quarter of createHash().update().digest()'s time (every request hashes its key).
export const hashApiKey = (secret: string): string => hash('sha256', secret, 'hex');

/** A new secret: `sk-` and 48 url-safe random characters. */
export const generateApiKey = (): string => `sk-${randomBytes(36).toString('base64url')}`;

export function newKeyRecord(secret: string, fields: { name: string; source: ApiKeyRecord['source']; now: number }): ApiKeyRecord {
  return {
    id: `key_${randomUUID().replaceAll('-', '')}`,
    name: fields.name,
    hash: hashApiKey(secret),
    prefix: secret.slice(0, 7),
    enabled: true,
    createdAt: fields.now,
    expiresAt: null,
    source: fields.source,
    // Environment and bootstrap keys are development keys: unlimited and unrestricted.
    balance: null,
    allowedModels: null,
    ipAllowlist: null,
    rateLimits: { requestsPerMinute: null, imagesPerMinute: null, concurrentRequests: null },
    priceGroup: 'default',
    revokedAt: null,
  };
}

/**
 * Seeds keys from IMAGEGATE_API_KEYS and, on a first start with no key at all, creates one.
 * Returns the created secret (to be printed once) or undefined.
 */
export async function bootstrapKeys(keys: KeyStore, envKeys: string[], now: number, options: { createIfNone?: boolean } = {}): Promise<string | undefined> {
  for (const [index, secret] of envKeys.entries()) {
    await keys.insert(newKeyRecord(secret, { name: `env-${index + 1}`, source: 'env', now }));
  }
  if (options.createIfNone === false || (await keys.count()) > 0) return undefined;
  const secret = generateApiKey();
  await keys.insert(newKeyRecord(secret, { name: 'bootstrap', source: 'bootstrap', now }));
  return secret;
}
