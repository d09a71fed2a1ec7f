// Console sign-in and sign-out: POST /admin/v1/session with `admin_token` (operator) or `api_key`
// (key holder) sets the session cookie and answers the CSRF token; GET tells who is signed in.

import type { FastifyInstance } from 'fastify';
import { GatewayError, isGatewayError } from '../core/errors.js';
import type { AdminDeps } from './deps.js';
import { objectBody, optionalString } from './fields.js';

export function registerSessionRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.post('/session', { config: { signIn: true } }, async (request, reply) => {
    const body = objectBody(request.body, ['admin_token', 'api_key']);
    const adminToken = optionalString(body, 'admin_token', 1000);
    const apiKey = optionalString(body, 'api_key', 1000);
    if ((adminToken === undefined) === (apiKey === undefined)) {
      throw new GatewayError('missing_required_parameter', "Give 'admin_token' (operators) or 'api_key' (key holders), one of the two.", { param: adminToken === undefined ? 'admin_token' : 'api_key' });
    }
    const audit = (actor: string, outcome: string, target: string | null) =>
      deps.audit.record({ at: deps.clock.now(), actor, ip: request.ip, action: 'session.signed_in', target, changes: { with: adminToken !== undefined ? 'admin token' : 'api key' }, outcome, requestId: request.id });
    await deps.credentialGuard.check(request.ip);
    let signedIn;
    try {
      signedIn = await deps.sessions.signIn(adminToken !== undefined ? { adminToken } : { apiKey: apiKey ?? '' }, request.ip);
    } catch (error) {
      // Failed sign-ins are audited too: that is how a guessing attempt shows. Wrong credentials count
      // towards the address's limit; a refusal for another reason (a revoked key, a switched-off console) does not.
      if (isGatewayError(error) && error.code === 'invalid_api_key') await deps.credentialGuard.failed(request.ip);
      await audit('unknown', isGatewayError(error) ? error.code : 'server_error', null);
      throw error;
    }
    const { session } = signedIn;
    await audit(session.role === 'operator' ? 'operator session' : `key ${session.keyId}`, 'ok', session.keyId);
    deps.sessions.setCookie(request, reply, signedIn);
    return reply.code(201).send(sessionView(session.role, session.keyId, session.csrfToken, session.expiresAt));
  });

  app.get('/session', { config: { keyHolder: true } }, async (request) => {
    const session = await deps.sessions.fromRequest(request);
    const principal = request.principal;
    return sessionView(principal.role, principal.role === 'key' ? principal.keyId : null, session?.csrfToken ?? null, session?.expiresAt ?? null);
  });

  app.delete('/session', { config: { keyHolder: true, audit: 'session.signed_out' } }, async (request, reply) => {
    await deps.sessions.signOut(request, reply);
    return reply.code(204).send();
  });
}

function sessionView(role: 'operator' | 'key', keyId: string | null, csrfToken: string | null, expiresAt: number | null) {
  return { object: 'console.session', role, key_id: keyId, csrf_token: csrfToken, expires_at: expiresAt === null ? null : Math.floor(expiresAt / 1000) };
}
