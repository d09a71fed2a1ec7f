// Channel definitions at the edges: masking, input and patch checks, patches, the config digest.

import { describe, expect, it } from 'vitest';
import type { GatewayError } from '../core/errors.js';
import { applyPatch, checkChannelInput, checkChannelPatch, configDigest, maskSecret, recordFromInput } from './channel-definition.js';

const failure = (run: () => unknown): GatewayError => {
  try {
    run();
  } catch (error) {
    return error as GatewayError;
  }
  throw new Error('expected a failure');
};

describe('maskSecret', () => {
  it('shows a little of long keys, less of short ones, nothing of tiny ones', () => {
    expect(maskSecret('sk-proj-abcdefghijklmnop1234')).toBe('sk-…1234');
    expect(maskSecret('short-key9')).toBe('…y9');
    expect(maskSecret('abc')).toBe('…');
  });
});

describe('checkChannelInput', () => {
  const base = { name: 'alpha', provider: 'openai', models: ['gpt-image-1'] };

  it('accepts a minimal channel and fills defaults in the record', () => {
    const record = recordFromInput(checkChannelInput(base), 'admin', 1_000);
    expect(record).toMatchObject({ apiKeys: [], priority: 0, weight: 1, enabled: true, disabledReason: null, maxConcurrency: null, source: 'admin', configHash: null });
  });

  it('names the offending field', () => {
    expect(failure(() => checkChannelInput({ ...base, provider: 'acme' })).param).toBe('provider');
    expect(failure(() => checkChannelInput({ ...base, models: [] })).param).toBe('models');
    expect(failure(() => checkChannelInput({ ...base, max_concurrency: 0 })).param).toBe('max_concurrency');
    expect(failure(() => checkChannelInput({ ...base, surprise: true })).code).toBe('invalid_value');
    expect(failure(() => checkChannelInput({ ...base, base_url: 'ftp://example.com' })).param).toBe('base_url');
    expect(failure(() => checkChannelInput({ ...base, base_url: 'https://user:pw@example.com' })).param).toBe('base_url');
  });

  it('never quotes a key in its error', () => {
    const error = failure(() => checkChannelInput({ ...base, api_keys: ['sk-secret-value-123456', 42] }));
    expect(error.param).toBe('api_keys');
    expect(error.message).not.toContain('sk-secret-value');
  });
});

describe('patches', () => {
  const record = recordFromInput(
    checkChannelInput({ name: 'alpha', provider: 'openai', models: ['gpt-image-1'], api_keys: ['sk-original-key-0000aaaa', 'sk-original-key-1111bbbb'], max_concurrency: 4, timeout_ms: 5_000 }),
    'admin',
    1_000,
  );

  it('changes only what is given, clears with null, and keeps keys sent back masked', () => {
    const patch = checkChannelPatch({ priority: 3, max_concurrency: null, api_keys: ['sk-…bbbb', 'sk-added-key-22223333'] });
    const next = applyPatch(record, patch, 2_000);
    expect(next).toMatchObject({ priority: 3, maxConcurrency: null, timeoutMs: 5_000, updatedAt: 2_000, createdAt: 1_000 });
    expect(next.apiKeys).toEqual(['sk-original-key-1111bbbb', 'sk-added-key-22223333']);
  });

  it('disabling through a patch records that an operator did it', () => {
    expect(applyPatch(record, checkChannelPatch({ enabled: false }), 2_000)).toMatchObject({ enabled: false, disabledReason: 'admin' });
  });

  it('refuses a rename, an unknown field and a wrong type', () => {
    expect(failure(() => checkChannelPatch({ name: 'beta' })).param).toBe('name');
    expect(failure(() => checkChannelPatch({ colour: 'red' })).code).toBe('invalid_value');
    expect(failure(() => checkChannelPatch({ weight: 'heavy' })).param).toBe('weight');
    expect(failure(() => checkChannelPatch({ priority: null })).param).toBe('priority');
    expect(failure(() => checkChannelPatch([])).code).toBe('invalid_value');
  });
});

describe('configDigest', () => {
  it('ignores key order and changes with any value', () => {
    const one = { name: 'a', provider: 'openai' as const, models: ['gpt-image-1'], options: { x: 1, y: 2 } };
    const reordered = { options: { y: 2, x: 1 }, models: ['gpt-image-1'], provider: 'openai' as const, name: 'a' };
    expect(configDigest(one)).toBe(configDigest(reordered));
    expect(configDigest({ ...one, weight: 2 })).not.toBe(configDigest(one));
  });
});
