// The behaviour every KeyStore (SQLite, Postgres …) must show; each implementation's test file runs it.

import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ApiKeyRecord, KeyStore } from '../../core/ports/key-store.js';

export interface KeyStoreUnderTest {
  store: KeyStore;
  cleanup(): Promise<void>;
}

const baseTime = 1_700_000_000_000;

function makeKey(suffix: string, overrides: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id: `key_${suffix}`,
    name: `Key ${suffix}`,
    hash: createHash('sha256').update(`sk-secret-${suffix}`).digest('hex'),
    prefix: `sk-${suffix.slice(0, 4)}`,
    enabled: true,
    createdAt: baseTime,
    expiresAt: null,
    source: 'admin',
    balance: null,
    allowedModels: null,
    ipAllowlist: null,
    rateLimits: { requestsPerMinute: null, imagesPerMinute: null, concurrentRequests: null },
    priceGroup: 'default',
    revokedAt: null,
    ...overrides,
  };
}

export function describeKeyStoreConformance(name: string, create: () => Promise<KeyStoreUnderTest>): void {
  describe(`KeyStore conformance: ${name}`, () => {
    let subject: KeyStoreUnderTest;
    let store: KeyStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('finds an inserted key by its hash with every field intact', async () => {
      const key = makeKey('alpha', { expiresAt: baseTime + 86_400_000, source: 'bootstrap' });
      await store.insert(key);
      expect(await store.findByHash(key.hash)).toStrictEqual(key);
    });

    it('answers undefined for an unknown hash', async () => {
      await store.insert(makeKey('alpha'));
      expect(await store.findByHash('f'.repeat(64))).toBeUndefined();
    });

    it('ignores a second insert with a hash already stored', async () => {
      const original = makeKey('alpha', { source: 'env' });
      await store.insert(original);
      await store.insert({ ...makeKey('other'), hash: original.hash, name: 'Impostor' });
      expect(await store.count()).toBe(1);
      expect(await store.findByHash(original.hash)).toStrictEqual(original);
    });

    it('counts and lists every key', async () => {
      expect(await store.count()).toBe(0);
      expect(await store.list()).toStrictEqual([]);
      const keys = [makeKey('one', { createdAt: baseTime }), makeKey('two', { createdAt: baseTime + 1 }), makeKey('three', { createdAt: baseTime + 2 })];
      for (const key of keys) await store.insert(key);
      expect(await store.count()).toBe(3);
      const listed = await store.list();
      expect(listed).toHaveLength(3);
      expect([...listed].sort((left, right) => left.id.localeCompare(right.id))).toStrictEqual(
        [...keys].sort((left, right) => left.id.localeCompare(right.id)),
      );
    });

    it('disables and re-enables a key, and reports an unknown id', async () => {
      const key = makeKey('alpha');
      await store.insert(key);
      expect(await store.setEnabled(key.id, false)).toBe(true);
      expect((await store.findByHash(key.hash))?.enabled).toBe(false);
      expect((await store.list())[0]?.enabled).toBe(false);
      expect(await store.setEnabled(key.id, true)).toBe(true);
      expect((await store.findByHash(key.hash))?.enabled).toBe(true);
      expect(await store.setEnabled('key_missing', false)).toBe(false);
    });

    it('keeps quota, limits, allowlists and price group intact', async () => {
      const key = makeKey('metered', {
        balance: 592_000,
        allowedModels: ['dall-e-2', 'gpt-image-1'],
        ipAllowlist: ['127.0.0.1', '10.0.0.0/8'],
        rateLimits: { requestsPerMinute: 60, imagesPerMinute: 120, concurrentRequests: 4 },
        priceGroup: 'partners',
      });
      await store.insert(key);
      expect(await store.findByHash(key.hash)).toStrictEqual(key);
      expect(await store.findById(key.id)).toStrictEqual(key);
      expect(await store.findById('key_missing')).toBeUndefined();
    });

    it('updates only the fields given, and answers undefined for an unknown id', async () => {
      const key = makeKey('alpha', { allowedModels: ['dall-e-2'] });
      await store.insert(key);
      const updated = await store.update(key.id, {
        name: 'Renamed',
        expiresAt: baseTime + 1000,
        ipAllowlist: ['::1'],
        rateLimits: { requestsPerMinute: 5, imagesPerMinute: null, concurrentRequests: 1 },
        priceGroup: 'vip',
      });
      expect(updated).toStrictEqual({
        ...key,
        name: 'Renamed',
        expiresAt: baseTime + 1000,
        ipAllowlist: ['::1'],
        rateLimits: { requestsPerMinute: 5, imagesPerMinute: null, concurrentRequests: 1 },
        priceGroup: 'vip',
      });
      expect((await store.update(key.id, { allowedModels: null }))?.allowedModels).toBeNull();
      expect(await store.update('key_missing', { name: 'x' })).toBeUndefined();
    });

    it('revokes for good: a later update cannot enable the key again', async () => {
      const key = makeKey('alpha');
      await store.insert(key);
      expect(await store.revoke(key.id, baseTime + 5)).toBe(true);
      expect(await store.revoke('key_missing', baseTime + 5)).toBe(false);
      const revoked = await store.findById(key.id);
      expect([revoked?.enabled, revoked?.revokedAt]).toStrictEqual([false, baseTime + 5]);
      const afterUpdate = await store.update(key.id, { enabled: true, name: 'still revoked' });
      expect([afterUpdate?.enabled, afterUpdate?.name, afterUpdate?.revokedAt]).toStrictEqual([false, 'still revoked', baseTime + 5]);
      // A second revoke keeps the first time.
      await store.revoke(key.id, baseTime + 9);
      expect((await store.findById(key.id))?.revokedAt).toBe(baseTime + 5);
    });
  });
}
