import { describe, expect, it } from 'vitest';
import { maskSecrets } from './mask.js';

describe('maskSecrets', () => {
  it('keeps only a hint of any field named like a secret, at any depth, in strings and lists', () => {
    const masked = maskSecrets({
      name: 'acme',
      api_key: 'sk-live-0123456789abcdef',
      api_keys: ['sk-one-0123456789', 'sk-two-9876543210'],
      options: { webhook_secret: 'whsec_abcdefghijklmnop', nested: { admin_token: 'admin-token-value-123', password: 42 } },
      headers: { Authorization: 'Bearer sk-bearer-secret-value' },
    });
    expect(masked).toStrictEqual({
      name: 'acme',
      api_key: 'sk-***ef',
      api_keys: ['sk-***89', 'sk-***10'],
      options: { webhook_secret: 'whs***op', nested: { admin_token: 'adm***23', password: '***' } },
      headers: { Authorization: 'Bea***ue' },
    });
    expect(JSON.stringify(masked)).not.toMatch(/0123456789abcdef|abcdefghijklmnop|secret-value/);
  });

  it('bounds what it keeps: long strings, long lists and deep nesting are cut', () => {
    const deep = { a: { b: { c: { d: { e: { f: { g: 'too deep' } } } } } } };
    expect(JSON.stringify(maskSecrets(deep))).not.toContain('too deep');
    expect((maskSecrets('x'.repeat(2000)) as string).length).toBeLessThan(510);
    expect((maskSecrets(Array.from({ length: 500 }, (_, index) => index)) as unknown[]).length).toBe(100);
  });
});
