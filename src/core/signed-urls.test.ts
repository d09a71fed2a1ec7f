// createUrlSigner: links verify until they expire, and any change to key, expiry or signature breaks them.

import { describe, expect, it } from 'vitest';
import { manualClock } from './ports/clock.js';
import { createUrlSigner, filesPathPrefix } from './signed-urls.js';

const start = Date.UTC(2030, 0, 1, 12, 0, 0);

function setUp(ttl = 3600) {
  const clock = manualClock(start);
  const signer = createUrlSigner({ secret: 'a-test-secret-of-enough-length', defaultTtlSeconds: ttl, clock });
  return { clock, signer };
}

/** Splits a signed path into the parts the files route passes to verify(). */
function partsOf(path: string): { key: string; expires: string; signature: string } {
  const url = new URL(path, 'http://gateway.test');
  return {
    key: url.pathname.slice(filesPathPrefix.length),
    expires: url.searchParams.get('expires') ?? '',
    signature: url.searchParams.get('signature') ?? '',
  };
}

describe('createUrlSigner', () => {
  it('signs a path under /v1/files/ with the expiry in seconds and verifies it', () => {
    const { signer } = setUp();
    const { path, expiresAt } = signer.sign('2030/01/01/img_abc.png');
    expect(path.startsWith('/v1/files/2030/01/01/img_abc.png?expires=')).toBe(true);
    expect(expiresAt).toBe(start + 3600 * 1000);
    const { key, expires, signature } = partsOf(path);
    expect(Number(expires)).toBe(start / 1000 + 3600);
    expect(signature).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(signer.verify(key, expires, signature)).toBe('ok');
  });

  it('uses a per-call ttl over the default', () => {
    const { signer } = setUp();
    expect(signer.sign('a.png', 60).expiresAt).toBe(start + 60_000);
  });

  it('is valid through the expiry second and expired just after it', () => {
    const { clock, signer } = setUp(10);
    const { key, expires, signature } = partsOf(signer.sign('a.png').path);
    clock.set(start + 10_000);
    expect(signer.verify(key, expires, signature)).toBe('ok');
    clock.set(start + 10_001);
    expect(signer.verify(key, expires, signature)).toBe('expired');
  });

  it('rejects a different key, expiry or signature as invalid', () => {
    const { signer } = setUp();
    const { key, expires, signature } = partsOf(signer.sign('2030/01/01/img_abc.png').path);
    expect(signer.verify('2030/01/01/img_abd.png', expires, signature)).toBe('invalid');
    expect(signer.verify(key, String(Number(expires) + 3600), signature)).toBe('invalid');
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    expect(signer.verify(key, expires, flipped)).toBe('invalid');
    expect(signer.verify(key, expires, signature.slice(0, -1))).toBe('invalid');
  });

  it('rejects missing or malformed parameters as invalid', () => {
    const { signer } = setUp();
    const { key, expires, signature } = partsOf(signer.sign('a.png').path);
    expect(signer.verify(key, undefined, signature)).toBe('invalid');
    expect(signer.verify(key, expires, undefined)).toBe('invalid');
    expect(signer.verify(key, `${expires}.0`, signature)).toBe('invalid');
    expect(signer.verify(key, `-${expires}`, signature)).toBe('invalid');
  });

  it('does not accept a link signed with another secret', () => {
    const { signer, clock } = setUp();
    const other = createUrlSigner({ secret: 'another-secret-entirely-000', defaultTtlSeconds: 3600, clock });
    const { key, expires, signature } = partsOf(other.sign('a.png').path);
    expect(signer.verify(key, expires, signature)).toBe('invalid');
  });

  it('gives a tampered expired link "invalid", not "expired": the signature is checked first', () => {
    const { clock, signer } = setUp(10);
    const { key, expires } = partsOf(signer.sign('a.png').path);
    clock.advance(60_000);
    expect(signer.verify(key, expires, 'x'.repeat(43))).toBe('invalid');
  });
});
