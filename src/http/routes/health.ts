// GET /healthz (the process is alive) and GET /readyz (the database and storage are usable).

import type { FastifyInstance } from 'fastify';
import type { HttpDeps } from '../deps.js';

export function registerHealthRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (request, reply) => {
    try {
      await deps.checkReadiness();
      return { status: 'ready' };
    } catch (error) {
      request.log.warn({ err: error }, 'not ready');
      return reply.code(503).send({ status: 'not_ready' });
    }
  });
}
