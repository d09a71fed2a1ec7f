// GET /healthz (the process is alive) and GET /readyz (every dependency — database, image storage,
// Redis when configured — is usable; a 503 names the ones that are not).

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';

/** Thrown by a readiness check built with `readinessChecks`: which dependencies failed, and why (for the log). */
export class NotReadyError extends Error {
  constructor(
    readonly dependencies: string[],
    readonly causes: unknown[],
  ) {
    super(`not ready: ${dependencies.join(', ')}`);
    this.name = 'NotReadyError';
  }
}

/** One readiness check out of named ones, run together; it throws NotReadyError naming each that failed. */
export function readinessChecks(checks: Record<string, () => Promise<unknown>>): () => Promise<void> {
  return async () => {
    const names = Object.keys(checks);
    const results = await Promise.allSettled(names.map((name) => checks[name]?.()));
    const failed = names.flatMap((name, index) => (results[index]?.status === 'rejected' ? [name] : []));
    if (failed.length > 0) throw new NotReadyError(failed, results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : [])));
  };
}

export function registerHealthRoutes(app: FastifyInstance, deps: HttpDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => {
    try {
      await deps.checkReadiness();
    } catch (error) {
      // A failure like any other, in OpenAI's shape; the cause (a path, a driver message) stays in the log.
      const which = error instanceof NotReadyError ? `${error.dependencies.join(', ')} ${error.dependencies.length === 1 ? 'is' : 'are'} not usable` : 'the database or the image storage is not usable';
      throw new GatewayError('service_unavailable', `Not ready: ${which}.`, { cause: error });
    }
    return { status: 'ready' };
  });
}
