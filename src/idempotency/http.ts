// Idempotency over HTTP: reads the Idempotency-Key header, and stores what a request answered at
// the moment its response leaves (or forgets the key when nothing worth replaying happened).

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { IdempotencyTicket } from './service.js';
import type { StoredResponse } from '../core/ports/idempotency-store.js';

export interface IdempotencyState {
  ticket: IdempotencyTicket;
  /** Stored instead of the body that was sent: references (task id, blob keys) re-rendered on replay. */
  replayAs?: StoredResponse;
  /** Upstream work began: a definitive failure from then on is replayed rather than run again. */
  workStarted: boolean;
  finished: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: IdempotencyState | null;
  }
}

/** Headers a replay repeats; the rest (request id, rate limits, dates) belong to each request. */
const replayedHeaders = ['content-type', 'location', 'x-imagegate-provider', 'x-imagegate-warnings', 'x-imagegate-task-id', 'x-should-retry'];

export function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const header = request.headers['idempotency-key'];
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^[\x21-\x7e]{1,255}$/.test(value)) {
    throw new GatewayError('invalid_value', 'The Idempotency-Key header must be 1 to 255 printable characters without spaces.', { param: 'Idempotency-Key' });
  }
  return value;
}

export function replayHeadersOf(reply: FastifyReply): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of replayedHeaders) {
    const value = reply.getHeader(name);
    if (value !== undefined) headers[name] = String(value);
  }
  return headers;
}

/**
 * What a repeated request should get: every success; a failure only once upstream work had begun
 * and only when it is final (not retryable), so a request rejected by validation, a rate limit or a
 * transient upstream error can be sent again with the same key and run.
 */
function worthReplaying(request: FastifyRequest, reply: FastifyReply, state: IdempotencyState): boolean {
  if (state.replayAs !== undefined) return true;
  if (reply.statusCode < 300) return true;
  // The client left and its work was aborted: that error is about the connection, not the request.
  if (reply.raw.destroyed || request.raw.socket.destroyed) return false;
  return state.workStarted && reply.getHeader('x-should-retry') === 'false';
}

/** Stores what the request answered, or forgets its key; a failure to store is logged, never the client's problem. */
async function record(request: FastifyRequest, reply: FastifyReply, state: IdempotencyState, payload: unknown): Promise<void> {
  try {
    if (worthReplaying(request, reply, state)) {
      const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : '';
      await state.ticket.complete(state.replayAs ?? { kind: 'json', status: reply.statusCode, headers: replayHeadersOf(reply), body });
    } else {
      await state.ticket.abandon();
    }
  } catch (error) {
    request.log.error({ err: error }, 'storing an idempotent response failed');
  }
}

export function registerIdempotencyCapture(app: FastifyInstance): void {
  app.decorateRequest('idempotency', null);
  // Callback hooks: the requests without an Idempotency-Key (nearly all) pass without a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    const state = request.idempotency;
    if (state === null || state.finished) {
      done(null, payload);
      return;
    }
    state.finished = true;
    record(request, reply, state, payload).then(() => done(null, payload), done);
  });
  // A request that ended without a response passing onSend (hijacked, or the socket died first).
  app.addHook('onResponse', (request, _reply, done) => {
    const state = request.idempotency;
    if (state === null || state.finished) {
      done();
      return;
    }
    state.finished = true;
    state.ticket
      .abandon()
      .catch((error: unknown) => request.log.error({ err: error }, 'releasing an idempotency key failed'))
      .then(() => done(), done);
  });
}
