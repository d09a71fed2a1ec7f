// IP allowlists: single addresses, CIDR ranges, IPv6, and IPv4-mapped client addresses.

import { describe, expect, it } from 'vitest';
import { isAddressAllowed, parseAllowlistEntry } from './ip-allowlist.js';

describe('ip allowlist', () => {
  it('matches addresses and ranges of the same family', () => {
    expect(isAddressAllowed('127.0.0.1', ['127.0.0.1'])).toBe(true);
    expect(isAddressAllowed('10.1.2.3', ['10.0.0.0/8'])).toBe(true);
    expect(isAddressAllowed('11.1.2.3', ['10.0.0.0/8'])).toBe(false);
    expect(isAddressAllowed('2001:db8::5', ['2001:db8::/32'])).toBe(true);
    expect(isAddressAllowed('::1', ['127.0.0.1'])).toBe(false);
  });

  it('compares IPv4-mapped IPv6 client addresses as IPv4', () => {
    expect(isAddressAllowed('::ffff:127.0.0.1', ['127.0.0.0/8'])).toBe(true);
    expect(isAddressAllowed('10.0.0.9', ['::ffff:10.0.0.0/104'])).toBe(true);
  });

  it('refuses entries that are neither addresses nor ranges', () => {
    expect(() => parseAllowlistEntry('example.com')).toThrow(/not an IP address or CIDR range/);
    expect(() => parseAllowlistEntry('10.0.0.0/33')).toThrow(RangeError);
    expect(isAddressAllowed('not-an-ip', ['127.0.0.1'])).toBe(false);
  });
});
