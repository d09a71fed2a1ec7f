// The admin API under /admin/v1: keys, channels, prices, request logs, usage, tasks, the gallery,
// statistics and the audit log, for operators — and, read-only and narrowed to their own key, for
// key holders signed in to the console. One API serves the CLI and the console, so they never disagree.
//
// Who is asking (src/admin/principal.ts): `Authorization: Bearer <IMAGEGATE_ADMIN_TOKEN>` (the CLI),
// or a console session cookie (with its CSRF token on changes). With no token configured the
// operator side is switched off and says so (403), since an open admin API would hand out credits.

import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { maskSecrets } from '../audit/mask.js';
import { GatewayError } from '../core/errors.js';
import { extractApiKey } from '../http/auth.js';
import { registerAuditRoutes } from './audit.js';
import { registerChannelRoutes } from './channels.js';
import type { AdminDeps } from './deps.js';
import { registerGalleryRoutes } from './gallery.js';
import { registerKeyRoutes } from './keys.js';
import { registerLogRoutes } from './logs.js';
import { registerModelRoutes } from './models.js';
import { registerOverviewRoutes } from './overview.js';
import { registerPriceRoutes } from './prices.js';
import type { Principal } from './principal.js';
import { registerSessionRoutes } from './sessions.js';
import { registerTaskRoutes } from './tasks.js';

export const adminPrefix = '/admin/v1';

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Builds the token check once; hashing both sides makes the comparison constant-time at any length. */
export function createAdminAuthorizer(token: string | undefined): (request: FastifyRequest) => void {
  const expected = token === undefined ? undefined : digest(token);
  return (request) => {
    if (expected === undefined) {
      throw new GatewayError('permission_denied', 'The admin API is disabled: set IMAGEGATE_ADMIN_TOKEN and restart to enable it.');
    }
    const presented = extractApiKey(request);
    if (presented === undefined) {
      throw new GatewayError('invalid_api_key', "The admin API needs the admin token: 'Authorization: Bearer <IMAGEGATE_ADMIN_TOKEN>'.");
    }
    if (!timingSafeEqual(digest(presented), expected)) throw new GatewayError('invalid_api_key', 'Incorrect admin token provided.');
  };
}

/** The audited action's target: the route's id, name or model parameter. */
function targetOf(request: FastifyRequest): string | null {
  if (request.auditTarget) return request.auditTarget;
  const params = (request.params ?? {}) as Record<string, string | undefined>;
  const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>;
  return params.id ?? params.name ?? params.model ?? (typeof body.name === 'string' ? body.name.slice(0, 200) : null);
}

export async function registerAdminApi(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  const authorizeToken = createAdminAuthorizer(deps.token);

  async function identify(request: FastifyRequest): Promise<Principal> {
    if (extractApiKey(request) !== undefined) {
      await deps.credentialGuard.check(request.ip);
      try {
        authorizeToken(request);
      } catch (error) {
        await deps.credentialGuard.failed(request.ip);
        throw error;
      }
      return { role: 'operator', actor: 'admin token' };
    }
    const session = await deps.sessions.fromRequest(request);
    if (session === undefined) {
      authorizeToken(request); // no credentials at all: the same 401 (or 403 when switched off) as before sessions existed
      throw new GatewayError('invalid_api_key', 'No credentials.');
    }
    deps.sessions.checkCsrf(request, session);
    if (session.role === 'operator') {
      // A session outlives nothing: with the admin token removed from the config, operator sessions stop too.
      if (deps.token === undefined) throw new GatewayError('permission_denied', 'The admin API is disabled: set IMAGEGATE_ADMIN_TOKEN and restart to enable it.');
      return { role: 'operator', actor: 'operator session' };
    }
    const key = await deps.sessions.keyOf(session, request);
    return { role: 'key', keyId: key.id, actor: `key ${key.id}` };
  }

  await app.register(
    async (scope) => {
      scope.decorateRequest('principal', null as never);
      scope.decorateRequest('auditDetail', null as never);
      scope.decorateRequest('auditTarget', null as never);
      scope.addHook('onRequest', async (request) => {
        const config = request.routeOptions.config;
        if (config.signIn) return;
        request.principal = await identify(request);
        if (request.principal.role === 'key' && !config.keyHolder) {
          throw new GatewayError('permission_denied', 'This is for operators: a key holder sees only their own key, usage, requests, tasks and images.');
        }
      });
      // Every change is written to the audit log before its answer leaves, refused ones too.
      scope.addHook('onSend', async (request, reply, payload) => {
        const action = request.routeOptions.config.audit;
        if (action === undefined || request.method === 'GET') return payload;
        const failed = reply.statusCode >= 400;
        await deps.audit.record({
          at: deps.clock.now(),
          actor: request.principal?.actor ?? 'unknown',
          ip: request.ip,
          action,
          target: targetOf(request),
          changes: maskSecrets({ ...(typeof request.body === 'object' && request.body !== null ? request.body : {}), ...(request.auditDetail ?? {}) }) as Record<string, unknown>,
          outcome: failed ? (request.imagegate.errorCode ?? `http_${reply.statusCode}`) : 'ok',
          requestId: request.id,
        });
        return payload;
      });
      registerSessionRoutes(scope, deps);
      registerKeyRoutes(scope, deps);
      registerChannelRoutes(scope, deps);
      registerPriceRoutes(scope, deps);
      registerLogRoutes(scope, deps);
      registerTaskRoutes(scope, deps);
      registerGalleryRoutes(scope, deps);
      registerOverviewRoutes(scope, deps);
      registerModelRoutes(scope, deps);
      registerAuditRoutes(scope, deps);
    },
    { prefix: adminPrefix },
  );
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The audit log's name for what this route does (key.created …); changes through it are recorded. */
    audit?: string;
    /** Key holders signed in to the console may call it (the handler narrows it to their key). */
    keyHolder?: boolean;
    /** The sign-in route itself: no credentials yet. */
    signIn?: boolean;
  }
}
