// Standard Webhooks signing (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp`
// and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed by a `whsec_` secret.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const secretPrefix = 'whsec_';

/** A new secret: `whsec_` and 24 random bytes in base64. */
export function generateWebhookSecret(): string {
  return `${secretPrefix}${randomBytes(24).toString('base64')}`;
}

/** The HMAC key: the base64 after `whsec_` (the prefix is optional, as the spec's libraries accept). */
export function webhookKey(secret: string): Buffer {
  const encoded = secret.startsWith(secretPrefix) ? secret.slice(secretPrefix.length) : secret;
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw new Error('A webhook secret is whsec_ followed by base64');
  const key = Buffer.from(encoded, 'base64');
  if (key.length < 12) throw new Error('A webhook secret needs at least 12 bytes of key');
  return key;
}

/**
 * A secret of its own for one scope (e.g. one API key's Replicate webhooks), derived from the
 * gateway's: a key holder can be told its secret without learning the gateway's or another key's.
 */
export function deriveWebhookSecret(secret: string, scope: string): string {
  return `${secretPrefix}${createHmac('sha256', webhookKey(secret)).update(`scope:${scope}`).digest('base64')}`;
}

export function isValidWebhookSecret(secret: string): boolean {
  try {
    webhookKey(secret);
    return secret.startsWith(secretPrefix);
  } catch {
    return false;
  }
}

export function signWebhook(secret: string, message: { id: string; timestamp: number; body: string }): string {
  const mac = createHmac('sha256', webhookKey(secret)).update(`${message.id}.${message.timestamp}.${message.body}`).digest('base64');
  return `v1,${mac}`;
}

/** The three headers of one delivery attempt; `timestampSeconds` is the attempt's own time. */
export function webhookHeaders(secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signWebhook(secret, { id, timestamp: timestampSeconds, body }),
  };
}

/**
 * Checks a received delivery the way a receiver should: any of the space-separated `v1,` signatures
 * matches, and the timestamp is within `toleranceSeconds` of now (replay protection).
 */
export function verifyWebhook(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const timestamp = Number(headers.timestamp);
  if (!/^\d+$/.test(headers.timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signWebhook(secret, { id: headers.id, timestamp, body }));
  return headers.signature.split(' ').some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
