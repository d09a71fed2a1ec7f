// Per-request facts gathered along the way (who, which model, what was delivered) for the request log.

import type { FastifyInstance } from 'fastify';
import type { ApiKeyRecord } from '../core/ports/key-store.js';
import type { RequestDetails } from '../core/ports/request-log.js';

export interface RequestContext {
  startedAt: number;
  /** The matched route's pattern (metrics label), read with `endpoint` from one routeOptions, which Fastify builds anew at each read. */
  route: string | undefined;
  key: ApiKeyRecord | undefined;
  endpoint: string | undefined;
  model: string | null;
  provider: string | null;
  channel: string | null;
  imagesRequested: number;
  imagesDelivered: number;
  size: string | null;
  errorCode: string | null;
  /** Prompt, parameters, warnings and stored images, for the console's request log and gallery. */
  details: RequestDetails | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    imagegate: RequestContext;
  }
  interface FastifyContextConfig {
    /**
     * The request-log name of a route, known before authentication and body parsing, so requests
     * those reject (401, 400 bad JSON, 413, 415) are logged too.
     */
    endpoint?: string;
  }
}

export function registerRequestContext(app: FastifyInstance): void {
  app.decorateRequest('imagegate', null as unknown as RequestContext);
  // Callback hooks (here and for every hook on the image path): an async hook costs a promise and a
  // microtask per request for work that never waits.
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions;
    request.imagegate = {
      startedAt: performance.now(),
      route: route.url,
      key: undefined,
      endpoint: route.config.endpoint,
      model: null,
      provider: null,
      channel: null,
      imagesRequested: 0,
      imagesDelivered: 0,
      size: null,
      errorCode: null,
      details: null,
    };
    done();
  });
}
