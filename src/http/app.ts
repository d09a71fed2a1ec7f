// Builds the HTTP application: parsers, auth, the one error handler, the request log, and routes.

import Fastify, { LogController, type FastifyInstance } from 'fastify';
import type { HttpDeps } from './deps.js';
import { registerIdempotencyCapture } from '../idempotency/http.js';
import { registerAuth } from './auth.js';
import { registerErrorHandling } from './errors.js';
import { answerClientError, answerFrameworkError, maxPathParameterLength } from './framing.js';
import { registerJsonParser } from './json-body.js';
import { registerMultipartParser } from './multipart-body.js';
import { registerBodyBudget } from './body-budget.js';
import { registerQueryRules } from './query.js';
import { requestIdFrom } from './request-id.js';
import { registerRequestContext } from './request-context.js';
import { registerRequestLogging } from './request-logging.js';
import { lazyRequestLogger } from './request-logger.js';
import { registerEditsRoute } from './routes/edits.js';
import { registerFilesRoute } from './routes/files.js';
import { registerGenerationsRoute } from './routes/generations.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerModelsRoutes } from './routes/models.js';
import { registerVariationsRoute } from './routes/variations.js';
import { registerTasksRoutes } from './routes/tasks.js';
import { bflRoutes } from '../dialects/bfl/routes.js';
import { replicateRoutes } from '../dialects/replicate/routes.js';
import { midjourneyRoutes } from '../dialects/midjourney/routes.js';

export async function buildApp(deps: HttpDeps): Promise<FastifyInstance> {
  // Typed with the base logger so route modules need not know pino's type.
  const app = Fastify({
    loggerInstance: deps.logger,
    // Per-request log lines cost throughput; the request log table records every request instead.
    logController: new LogController({ disableRequestLogging: true }),
    // request.log binds the request id when a line is logged, not for every request (./request-logger.ts).
    childLoggerFactory: lazyRequestLogger,
    bodyLimit: deps.settings.bodyLimitBytes,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: maxPathParameterLength },
    genReqId: (raw) => requestIdFrom(raw.headers['x-request-id']),
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    return503OnClosing: true,
    // Behind a reverse proxy the socket's peer is the proxy: only the listed proxies' X-Forwarded-For
    // (and -Proto/-Host) is believed, so request.ip is the client for IP allowlists and the request log.
    trustProxy: deps.settings.trustProxy !== undefined && deps.settings.trustProxy.length > 0 ? deps.settings.trustProxy : false,
    forceCloseConnections: 'idle',
  }) as unknown as FastifyInstance;
  // Fastify parses text/plain by default; the API takes JSON or multipart only, so plain text is a 415.
  app.removeContentTypeParser('text/plain');

  registerRequestContext(app);
  registerErrorHandling(app);
  registerQueryRules(app);
  registerAuth(app, { keys: deps.keys, clock: deps.clock, ...(deps.sessionKey === undefined ? {} : { sessionKey: deps.sessionKey }) });
  registerIdempotencyCapture(app);
  registerBodyBudget(app, deps.bodyBudget, deps.settings.bodyLimitBytes);
  registerMultipartParser(app);
  registerJsonParser(app);

  // Once closing has begun, every answer tells its keep-alive client to go, so each connection ends
  // with its in-flight response and close() (SIGTERM's drain) can finish instead of waiting forever.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // Answered before its body was read to the end (413, 415, a framing error): where the next
    // request would start on this connection is unknown, so it ends with this answer instead of
    // leaving the client to wait on a socket nobody reads.
    if (closing || !request.raw.complete) reply.header('connection', 'close');
    done(null, payload);
  });

  registerRequestLogging(app, deps);

  registerHealthRoutes(app, deps);
  registerModelsRoutes(app, deps);
  registerGenerationsRoute(app, deps);
  registerEditsRoute(app, deps);
  registerVariationsRoute(app, deps);
  registerFilesRoute(app, deps);
  registerTasksRoutes(app, deps);
  // The other API dialects relays sell (src/dialects): each an encapsulated plugin with its own error shape.
  await app.register(async (scope) => bflRoutes(scope, deps));
  await app.register(async (scope) => replicateRoutes(scope, deps));
  await app.register(async (scope) => midjourneyRoutes(scope, deps));
  return app;
}
