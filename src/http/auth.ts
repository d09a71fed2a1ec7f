// API-key authentication: `Authorization: Bearer <key>` and the bare `Authorization: <key>` relay
// clients send. Keys are looked up by their SHA-256 hash; a short cache keeps the store off the hot path.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { hashApiKey } from '../core/api-keys.js';
import type { ApiKeyRecord, KeyStore } from '../core/ports/key-store.js';
import type { Clock } from '../core/ports/clock.js';
import { isAddressAllowed } from './ip-allowlist.js';

export function extractApiKey(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header === 'string' && header.trim() !== '') {
    const match = /^Bearer\s+(.+)$/i.exec(header.trim());
    return (match?.[1] ?? header).trim() || undefined;
  }
  const alternative = request.headers['x-api-key'];
  return typeof alternative === 'string' && alternative.trim() !== '' ? alternative.trim() : undefined;
}

export interface AuthOptions {
  keys: KeyStore;
  clock: Clock;
  /** How long a looked-up key (or a miss) is remembered. */
  cacheMs?: number;
  /**
   * A request without an API key may still come from a console session (the playground): this
   * answers the session's key, already checked, or undefined when there is no session.
   */
  sessionKey?: (request: FastifyRequest) => Promise<ApiKeyRecord | undefined>;
}

export function createKeyAuthenticator(options: AuthOptions) {
  const cacheMs = options.cacheMs ?? 5_000;
  const cache = new Map<string, { record: ApiKeyRecord | undefined; until: number }>();
  const authenticate = async function authenticate(request: FastifyRequest): Promise<ApiKeyRecord> {
    const secret = extractApiKey(request);
    if (!secret) {
      const fromSession = await options.sessionKey?.(request);
      if (fromSession !== undefined) return fromSession;
      throw new GatewayError(
        'invalid_api_key',
        "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'.",
      );
    }
    const hash = hashApiKey(secret);
    const now = options.clock.now();
    let entry = cache.get(hash);
    if (!entry || entry.until < now) {
      entry = { record: await options.keys.findByHash(hash), until: now + cacheMs };
      if (cache.size > 10_000) cache.clear();
      cache.set(hash, entry);
    }
    const record = entry.record;
    if (!record || !record.enabled) {
      // Never echo the key: only its first characters, as OpenAI does.
      throw new GatewayError('invalid_api_key', `Incorrect API key provided: ${maskKey(secret)}.`);
    }
    if (record.expiresAt !== null && record.expiresAt <= now) {
      throw new GatewayError('invalid_api_key', `The API key ${maskKey(secret)} expired at ${new Date(record.expiresAt).toISOString()}.`);
    }
    if (record.ipAllowlist !== null && !isAddressAllowed(request.ip, record.ipAllowlist)) {
      throw new GatewayError('permission_denied', `This API key is not accepted from your address (${request.ip}): it is limited to an IP allowlist.`);
    }
    return record;
  };
  /** Forgets every cached lookup, so an admin change (revoke, limits) applies to the very next request. */
  return Object.assign(authenticate, { forget: () => cache.clear() });
}

export function maskKey(secret: string): string {
  if (secret.length <= 8) return '***';
  return `${secret.slice(0, 3)}***${secret.slice(-2)}`;
}

export function registerAuth(app: FastifyInstance, options: AuthOptions): void {
  const authenticate = createKeyAuthenticator(options);
  app.decorate('authenticate', async (request: FastifyRequest) => {
    request.imagegate.key = await authenticate(request);
  });
  app.decorate('forgetCachedKeys', () => authenticate.forget());
}

declare module 'fastify' {
  interface FastifyInstance {
    authenticate(request: FastifyRequest): Promise<void>;
    /** Drops cached key lookups; call after changing or revoking a key. */
    forgetCachedKeys(): void;
  }
}
