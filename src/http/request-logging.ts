// The request log's row for each request to a logged endpoint: written when its answer has gone out, or,
// when the client closes the connection before the answer is complete, when it closes — with nginx's
// status 499 ("client closed request"), so a client that gave up (a timeout shorter than the
// generation, a closed tab) is seen in the log and not only in the client's own error.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { RequestDetails } from '../core/ports/request-log.js';
import type { HttpDeps } from './deps.js';
import { onRequestEnd } from './request-end.js';
import { newLogEntryId } from './request-id.js';

/** An asynchronous request's details name the task it became (its 202 carries the id in a header). */
function detailsOf(details: RequestDetails | null, taskHeader: unknown): RequestDetails | null {
  if (details === null || typeof taskHeader !== 'string') return details;
  // Copied onto a fresh object, not spread and extended (docs/architecture.md: no hidden class per request).
  return Object.assign({}, details, { taskId: taskHeader });
}

export function registerRequestLogging(app: FastifyInstance, deps: Pick<HttpDeps, 'requestLog' | 'clock'>): void {
  const record = (request: FastifyRequest, reply: FastifyReply, status: number, errorCode: string | null): void => {
    const context = request.imagegate;
    deps.requestLog.record({
      id: newLogEntryId(),
      requestId: request.id,
      keyId: context.key?.id ?? null,
      endpoint: context.endpoint as string,
      model: context.model,
      provider: context.provider,
      channel: context.channel,
      status,
      imagesRequested: context.imagesRequested,
      imagesDelivered: context.imagesDelivered,
      size: context.size,
      latencyMs: Math.round(performance.now() - context.startedAt),
      errorCode,
      createdAt: deps.clock.now(),
      clientIp: request.ip,
      details: detailsOf(context.details, reply.getHeader('x-imagegate-task-id')),
    });
  };
  // The endpoint is known at the start for the routes that name it in their config; the others name
  // it in their handler, so whether to log is decided at the end.
  onRequestEnd(app, (request, reply, status, abandoned) => {
    const context = request.imagegate;
    if (context.endpoint === undefined) return;
    if (abandoned) record(request, reply, status, 'client_closed_request');
    else record(request, reply, status, context.errorCode);
  });
}
