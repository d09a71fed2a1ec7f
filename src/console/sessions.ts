// Console sign-in: an operator with the admin token, a key holder with their own API key. A session
// is a random secret in an HTTP-only, SameSite=Strict cookie; the store keeps only its SHA-256, so a
// leaked database cannot be replayed as a cookie. Changes made with a session must also carry the
// session's CSRF token in `x-csrf-token` (a header a cross-site form cannot set).

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type {} from '@fastify/cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hashApiKey } from '../core/api-keys.js';
import { GatewayError } from '../core/errors.js';
import type { Clock } from '../core/ports/clock.js';
import type { ApiKeyRecord, KeyStore } from '../core/ports/key-store.js';
import type { ConsoleSession, SessionStore } from '../core/ports/session-store.js';
import { isAddressAllowed } from '../http/ip-allowlist.js';

export const sessionCookie = 'imagegate_session';
export const csrfHeader = 'x-csrf-token';
/** Operators and key holders act on behalf of this key in the playground (operators choose it). */
export const actAsKeyHeader = 'x-imagegate-key-id';

const sha256 = (text: string): Buffer => createHash('sha256').update(text).digest();
const safeMethods = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface SessionServiceOptions {
  store: SessionStore;
  keys: KeyStore;
  clock: Clock;
  adminToken: string | undefined;
  /** Default 12 hours. */
  ttlMs?: number;
}

export type Credentials = { adminToken: string } | { apiKey: string };

export interface SignedIn {
  session: ConsoleSession;
  /** The cookie value, shown to the browser once. */
  secret: string;
}

export interface SessionService {
  readonly ttlMs: number;
  signIn(credentials: Credentials, ip: string): Promise<SignedIn>;
  /** The request's session, if its cookie names a live one; undefined when there is no cookie. Throws on a dead or forged one. */
  fromRequest(request: FastifyRequest): Promise<ConsoleSession | undefined>;
  /** Throws 403 when a change made with this session lacks its CSRF token. */
  checkCsrf(request: FastifyRequest, session: ConsoleSession): void;
  /** The key a key holder signed in with, checked as an API key would be (enabled, not expired, allowed address). */
  keyOf(session: ConsoleSession, request: FastifyRequest): Promise<ApiKeyRecord>;
  signOut(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  setCookie(request: FastifyRequest, reply: FastifyReply, signedIn: SignedIn): void;
}

export function isUsableKey(key: ApiKeyRecord | undefined, now: number): key is ApiKeyRecord {
  return key !== undefined && key.enabled && key.revokedAt === null && (key.expiresAt === null || key.expiresAt > now);
}

export function createSessionService(options: SessionServiceOptions): SessionService {
  const ttlMs = options.ttlMs ?? 12 * 60 * 60 * 1000;
  const expectedToken = options.adminToken === undefined ? undefined : sha256(options.adminToken);
  const { store, keys, clock } = options;

  const cookieOf = (request: FastifyRequest): string | undefined => {
    const header = request.headers.cookie;
    if (typeof header !== 'string') return undefined;
    const value = request.server.parseCookie(header)[sessionCookie];
    return value === undefined || value === '' ? undefined : value;
  };

  async function keyOf(session: ConsoleSession, request: FastifyRequest): Promise<ApiKeyRecord> {
    const key = session.keyId === null ? undefined : await keys.findById(session.keyId);
    if (!isUsableKey(key, clock.now())) throw new GatewayError('invalid_api_key', 'The API key of this session is no longer valid (revoked, disabled or expired); sign in again.');
    if (key.ipAllowlist !== null && !isAddressAllowed(request.ip, key.ipAllowlist)) {
      throw new GatewayError('permission_denied', `This API key is not accepted from your address (${request.ip}): it is limited to an IP allowlist.`);
    }
    return key;
  }

  return {
    ttlMs,
    async signIn(credentials, ip) {
      const now = clock.now();
      let role: ConsoleSession['role'];
      let keyId: string | null = null;
      if ('adminToken' in credentials) {
        if (expectedToken === undefined) throw new GatewayError('permission_denied', 'Operator sign-in is disabled: set IMAGEGATE_ADMIN_TOKEN and restart to enable it.');
        if (!timingSafeEqual(sha256(credentials.adminToken), expectedToken)) throw new GatewayError('invalid_api_key', 'Incorrect admin token provided.');
        role = 'operator';
      } else {
        const key = await keys.findByHash(hashApiKey(credentials.apiKey));
        if (!isUsableKey(key, now)) throw new GatewayError('invalid_api_key', 'Incorrect API key provided, or the key is revoked, disabled or expired.');
        if (key.ipAllowlist !== null && !isAddressAllowed(ip, key.ipAllowlist)) {
          throw new GatewayError('permission_denied', `This API key is not accepted from your address (${ip}): it is limited to an IP allowlist.`);
        }
        role = 'key';
        keyId = key.id;
      }
      const secret = randomBytes(32).toString('base64url');
      const session: ConsoleSession = {
        idHash: sha256(secret).toString('hex'),
        role,
        keyId,
        csrfToken: randomBytes(24).toString('base64url'),
        ip,
        createdAt: now,
        expiresAt: now + ttlMs,
      };
      // Expired sessions are swept on sign-in: the table stays as small as the sessions in use.
      await store.deleteExpired(now);
      await store.create(session);
      return { session, secret };
    },

    async fromRequest(request) {
      const secret = cookieOf(request);
      if (secret === undefined) return undefined;
      const session = await store.get(sha256(secret).toString('hex'), clock.now());
      if (!session) throw new GatewayError('invalid_api_key', 'Your console session has expired or was signed out; sign in again.');
      return session;
    },

    checkCsrf(request, session) {
      if (safeMethods.has(request.method)) return;
      const presented = request.headers[csrfHeader];
      const valid = typeof presented === 'string' && presented.length === session.csrfToken.length && timingSafeEqual(Buffer.from(presented), Buffer.from(session.csrfToken));
      if (!valid) throw new GatewayError('permission_denied', `A change made with a console session needs the session's CSRF token in the '${csrfHeader}' header.`);
    },

    keyOf,

    async signOut(request, reply) {
      const secret = cookieOf(request);
      if (secret !== undefined) await store.delete(sha256(secret).toString('hex'));
      reply.clearCookie(sessionCookie, { path: '/' });
    },

    setCookie(request, reply, signedIn) {
      reply.setCookie(sessionCookie, signedIn.secret, {
        path: '/',
        httpOnly: true,
        sameSite: 'strict',
        secure: request.protocol === 'https',
        maxAge: Math.floor(ttlMs / 1000),
      });
    },
  };
}

/**
 * The API key behind a console session, for the Images API (the playground): a key holder's own;
 * an operator names the key to bill in `x-imagegate-key-id`. Changes need the CSRF token, as in the admin API.
 */
export function createSessionKeyResolver(sessions: SessionService, keys: KeyStore, clock: Clock): (request: FastifyRequest) => Promise<ApiKeyRecord | undefined> {
  return async (request) => {
    const session = await sessions.fromRequest(request);
    if (session === undefined) return undefined;
    sessions.checkCsrf(request, session);
    if (session.role === 'key') return sessions.keyOf(session, request);
    const keyId = request.headers[actAsKeyHeader];
    if (typeof keyId !== 'string' || keyId === '') {
      throw new GatewayError('invalid_api_key', `An operator's console session runs image requests on a key: name its id in the '${actAsKeyHeader}' header.`);
    }
    const key = await keys.findById(keyId);
    if (!isUsableKey(key, clock.now())) throw new GatewayError('invalid_api_key', `The key '${keyId}' does not exist or is revoked, disabled or expired.`);
    return key;
  };
}
