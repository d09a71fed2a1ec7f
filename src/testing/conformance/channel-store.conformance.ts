// The behaviour every ChannelStore (SQLite, in-memory …) must show; each implementation's test file runs it.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ChannelRecord, ChannelStore } from '../../core/ports/channel-store.js';

export interface ChannelStoreUnderTest {
  store: ChannelStore;
  cleanup(): Promise<void>;
}

const baseTime = 1_700_000_000_000;

export function makeChannelRecord(name: string, overrides: Partial<ChannelRecord> = {}): ChannelRecord {
  return {
    name,
    provider: 'openai',
    baseUrl: 'http://127.0.0.1:9/v1',
    apiKeys: [`sk-${name}-first-0123456789`, `sk-${name}-second-0123456789`],
    models: ['gpt-image-1', 'dall-e-3'],
    modelMap: { 'dall-e-3': 'dall-e-3-hd' },
    priority: 5,
    weight: 3,
    enabled: true,
    disabledReason: null,
    maxConcurrency: 4,
    maxQueue: 16,
    timeoutMs: 60_000,
    pollIntervalMs: null,
    options: { organization: 'org-1', nested: { list: [1, 'two'], flag: true } },
    source: 'admin',
    configHash: null,
    createdAt: baseTime,
    updatedAt: baseTime,
    ...overrides,
  };
}

export function describeChannelStoreConformance(name: string, create: () => Promise<ChannelStoreUnderTest>): void {
  describe(`ChannelStore conformance: ${name}`, () => {
    let subject: ChannelStoreUnderTest;
    let store: ChannelStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    it('gets an inserted channel back with every field intact', async () => {
      const record = makeChannelRecord('alpha', { source: 'config', configHash: 'abc123', baseUrl: null, maxConcurrency: null, maxQueue: null, timeoutMs: null, pollIntervalMs: 250 });
      expect(await store.insert(record)).toBe(true);
      expect(await store.get('alpha')).toStrictEqual(record);
    });

    it('answers undefined for an unknown name', async () => {
      await store.insert(makeChannelRecord('alpha'));
      expect(await store.get('beta')).toBeUndefined();
    });

    it('refuses a second channel with a name already stored, leaving the first untouched', async () => {
      const original = makeChannelRecord('alpha');
      await store.insert(original);
      expect(await store.insert(makeChannelRecord('alpha', { provider: 'bfl', priority: 99 }))).toBe(false);
      expect(await store.get('alpha')).toStrictEqual(original);
      expect(await store.list()).toHaveLength(1);
    });

    it('lists every channel ordered by name', async () => {
      expect(await store.list()).toStrictEqual([]);
      for (const name of ['charlie', 'alpha', 'bravo']) await store.insert(makeChannelRecord(name));
      expect((await store.list()).map((record) => record.name)).toStrictEqual(['alpha', 'bravo', 'charlie']);
    });

    it('replaces every field of an existing channel, and reports a missing one', async () => {
      await store.insert(makeChannelRecord('alpha'));
      const changed = makeChannelRecord('alpha', {
        provider: 'bfl',
        baseUrl: 'http://127.0.0.1:10',
        apiKeys: ['bfl-one'],
        models: ['flux-dev'],
        modelMap: {},
        priority: -1,
        weight: 0,
        enabled: false,
        disabledReason: 'admin',
        maxConcurrency: null,
        maxQueue: 2,
        timeoutMs: null,
        pollIntervalMs: 100,
        options: {},
        updatedAt: baseTime + 5,
      });
      expect(await store.replace(changed)).toBe(true);
      expect(await store.get('alpha')).toStrictEqual(changed);
      expect(await store.replace(makeChannelRecord('ghost'))).toBe(false);
      expect(await store.get('ghost')).toBeUndefined();
    });

    it('disables with a reason and enables again, clearing the reason', async () => {
      await store.insert(makeChannelRecord('alpha'));
      expect(await store.setEnabled('alpha', false, 'upstream_auth_failed', baseTime + 10)).toBe(true);
      const disabled = await store.get('alpha');
      expect([disabled?.enabled, disabled?.disabledReason, disabled?.updatedAt]).toStrictEqual([false, 'upstream_auth_failed', baseTime + 10]);
      expect(await store.setEnabled('alpha', true, null, baseTime + 20)).toBe(true);
      const enabled = await store.get('alpha');
      expect([enabled?.enabled, enabled?.disabledReason, enabled?.updatedAt]).toStrictEqual([true, null, baseTime + 20]);
      expect(await store.setEnabled('ghost', false, 'admin', baseTime)).toBe(false);
    });

    it('removes a channel and reports one that was not there', async () => {
      await store.insert(makeChannelRecord('alpha'));
      await store.insert(makeChannelRecord('bravo'));
      expect(await store.remove('alpha')).toBe(true);
      expect(await store.remove('alpha')).toBe(false);
      expect((await store.list()).map((record) => record.name)).toStrictEqual(['bravo']);
    });

    it('hands out copies: changing a returned record does not change the store', async () => {
      await store.insert(makeChannelRecord('alpha'));
      const first = await store.get('alpha');
      first?.apiKeys.push('sk-injected');
      first?.models.push('dall-e-2');
      expect(await store.get('alpha')).toStrictEqual(makeChannelRecord('alpha'));
    });
  });
}
