// GET /admin/v1/audit: the audit log, newest first, filtered by action, target and time.

import type { FastifyInstance } from 'fastify';
import { parseTimeBound } from '../http/routes/usage.js';
import { GatewayError } from '../core/errors.js';
import type { AdminDeps } from './deps.js';
import { queryLimit, queryString } from './fields.js';

export function registerAuditRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>('/audit', async (request) => {
    const query = request.query;
    const before = queryString(query.before, 'before');
    if (before !== undefined && !/^\d{1,15}$/.test(before)) throw new GatewayError('invalid_value', "'before' is an audit entry id.", { param: 'before' });
    const entries = await deps.audit.query({
      action: queryString(query.action, 'action'),
      target: queryString(query.target, 'target'),
      from: parseTimeBound(query.from, 'from'),
      to: parseTimeBound(query.to, 'to'),
      before: before === undefined ? undefined : Number(before),
      limit: queryLimit(query.limit, 100, 1000),
    });
    return {
      object: 'list',
      data: entries.map((entry) => ({
        id: entry.id,
        at: Math.floor(entry.at / 1000),
        actor: entry.actor,
        ip: entry.ip,
        action: entry.action,
        target: entry.target,
        changes: entry.changes,
        outcome: entry.outcome,
        request_id: entry.requestId,
      })),
    };
  });
}
