// Who is calling the admin API: the operator (admin token or operator session) or a key holder
// (their console session). Handlers that key holders may call narrow every query with keyScope().

import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';

export type Principal = { role: 'operator'; actor: string } | { role: 'key'; keyId: string; actor: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
    /** Facts a handler adds to its audit entry (a test's result, a new balance). */
    auditDetail: Record<string, unknown> | null;
    /** What a creating action made (a new key's id), when the route's parameters cannot say. */
    auditTarget: string | null;
  }
}

/**
 * The key a query must be narrowed to: a key holder's own, whatever they asked for; for the
 * operator, the key they filtered by (or undefined: all keys).
 */
export function keyScope(request: FastifyRequest, requested: string | undefined): string | undefined {
  const principal = request.principal;
  if (principal.role === 'operator') return requested;
  if (requested !== undefined && requested !== principal.keyId) {
    throw new GatewayError('permission_denied', 'A key holder sees only their own key.', { param: 'key' });
  }
  return principal.keyId;
}

/** Throws the same 404 as for nothing at all when a key holder asks for another key's record. */
export function assertVisible(request: FastifyRequest, ownerKeyId: string | null, notFound: () => GatewayError): void {
  const principal = request.principal;
  if (principal.role === 'key' && principal.keyId !== ownerKeyId) throw notFound();
}
