// API-key authentication: `Authorization: Bearer <key>` and the bare `Authorization: <key>` relay
// clients send. Keys are looked up by their SHA-256 hash; a short cache keeps the store off the hot path.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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
  const checked = (request: FastifyRequest, secret: string, record: ApiKeyRecord | undefined, now: number): ApiKeyRecord => {
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
  const lookUp = async (request: FastifyRequest, secret: string, hash: string, now: number): Promise<ApiKeyRecord> => {
    const entry = { record: await options.keys.findByHash(hash), until: now + cacheMs };
    if (cache.size > 10_000) cache.clear();
    cache.set(hash, entry);
    return checked(request, secret, entry.record, now);
  };
  const fromSession = async (request: FastifyRequest): Promise<ApiKeyRecord> => {
    const record = await options.sessionKey?.(request);
    if (record !== undefined) return record;
    throw new GatewayError(
      'invalid_api_key',
      "You didn't provide an API key. Send it in the Authorization header: 'Authorization: Bearer YOUR_KEY'.",
    );
  };
  /**
   * The key a request presents, checked. Synchronous (no promise, no microtask) when the key's
   * lookup is cached, as it is for nearly every request; a promise when the store or a session is asked.
   */
  const authenticate = function authenticate(request: FastifyRequest): ApiKeyRecord | Promise<ApiKeyRecord> {
    const secret = extractApiKey(request);
    if (!secret) return fromSession(request);
    const hash = hashApiKey(secret);
    const now = options.clock.now();
    const entry = cache.get(hash);
    if (!entry || entry.until < now) return lookUp(request, secret, hash, now);
    return checked(request, secret, entry.record, now);
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
  // A callback hook, not an async one: a cached key is checked without a promise or a microtask.
  app.decorate('authenticate', (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    let result: ApiKeyRecord | Promise<ApiKeyRecord>;
    try {
      result = authenticate(request);
    } catch (error) {
      done(error as Error);
      return;
    }
    if (result instanceof Promise) {
      result.then((record) => {
        request.imagegate.key = record;
        done();
      }, done);
      return;
    }
    request.imagegate.key = result;
    done();
  });
  app.decorate('forgetCachedKeys', () => authenticate.forget());
}

declare module 'fastify' {
  interface FastifyInstance {
    /** A preHandler: sets `request.imagegate.key` or fails with invalid_api_key / permission_denied. */
    authenticate(request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void): void;
    /** Drops cached key lookups; call after changing or revoking a key. */
    forgetCachedKeys(): void;
  }
}
