// A key's optional IP allowlist: single addresses or CIDR ranges, IPv4 and IPv6, with IPv4-mapped
// IPv6 client addresses (::ffff:127.0.0.1) compared as the IPv4 they are.

import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses one entry; throws RangeError naming it when it is neither an address nor a CIDR range. */
export function parseAllowlistEntry(entry: string): Range {
  const text = entry.trim();
  try {
    if (text.includes('/')) {
      const [address, bits] = ipaddr.parseCIDR(text);
      // ::ffff:10.0.0.0/104 is the IPv4 range 10.0.0.0/8 written as IPv6.
      if (address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() && bits >= 96) return [address.toIPv4Address(), bits - 96];
      return [address, bits];
    }
    const address = ipaddr.process(text);
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new RangeError(`'${entry}' is not an IP address or CIDR range (e.g. 203.0.113.7, 10.0.0.0/8, 2001:db8::/32)`);
  }
}

export function isAddressAllowed(clientAddress: string, allowlist: readonly string[]): boolean {
  let address: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    address = ipaddr.process(clientAddress);
  } catch {
    return false;
  }
  return allowlist.some((entry) => {
    const [range, bits] = parseAllowlistEntry(entry);
    return range.kind() === address.kind() && address.match(range, bits);
  });
}
