// GET /healthz (the process is alive) and GET /readyz (the database and storage are usable).

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';

export function registerHealthRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    try {
      await deps.checkReadiness();
    } catch (error) {
      // A failure like any other, in OpenAI's shape; the cause (a path, a driver message) stays in the log.
      throw new GatewayError('service_unavailable', 'Not ready: the database or the image storage is not usable.', { cause: error });
    }
    return { status: 'ready' };
  });
}
