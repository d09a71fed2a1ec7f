// Validates a request's `callback_url` (alias `webhook_url`) when the task is submitted, so a bad
// or private address is refused with a 400 at once; the guarded HTTP client checks again at delivery.

import ipaddr from 'ipaddr.js';
import { GatewayError } from '../core/errors.js';

const maxUrlLength = 2048;

/** Public unicast only (the same rule the guarded client applies to resolved addresses). */
function isPublicLiteral(host: string): boolean {
  let parsed = ipaddr.parse(host);
  if (parsed.kind() === 'ipv6') {
    const ipv6 = parsed as ipaddr.IPv6;
    if (ipv6.isIPv4MappedAddress()) parsed = ipv6.toIPv4Address();
  }
  return parsed.range() === 'unicast';
}

/** Returns the URL to call, or throws `invalid_value` naming the field it came from. */
export function checkCallbackUrl(value: unknown, param: string, options: { allowPrivateNetworks: boolean }): string {
  if (typeof value !== 'string' || value.length === 0) throw new GatewayError('invalid_value', `'${param}' must be an http(s) URL.`, { param });
  if (value.length > maxUrlLength) throw new GatewayError('invalid_value', `'${param}' is longer than ${maxUrlLength} characters.`, { param });
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GatewayError('invalid_value', `'${param}' is not a valid absolute URL.`, { param });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new GatewayError('invalid_value', `'${param}' must be an http or https URL.`, { param });
  if (url.username !== '' || url.password !== '') throw new GatewayError('invalid_value', `'${param}' must not carry credentials.`, { param });
  if (!options.allowPrivateNetworks) {
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const lower = host.toLowerCase();
    const privateName = lower === 'localhost' || lower.endsWith('.localhost') || lower.endsWith('.local') || lower.endsWith('.internal');
    if (privateName || (ipaddr.isValid(host) && !isPublicLiteral(host))) {
      throw new GatewayError('invalid_value', `'${param}' points at a private or local address, which this gateway does not call.`, { param });
    }
  }
  return url.toString();
}
