// Answers for requests that never reach a route: HTTP messages Node's parser refuses (clientError)
// and URLs the router refuses (frameworkErrors). Both leave in OpenAI's error shape with an
// x-request-id, like every other answer, and a malformed message also closes its connection, since
// where the next request would begin on that socket can no longer be known.

import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { newRequestId } from './request-id.js';

/** How long a socket that was answered with a framing error may linger before it is cut. */
const lingerMs = 5_000;

/** The GatewayError for an error of Node's HTTP parser (llhttp codes, plus Node's own timeouts). */
export function parserErrorToGatewayError(error: NodeJS.ErrnoException): GatewayError {
  const code = error.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new GatewayError('request_header_fields_too_large', 'The request headers are larger than this server accepts (16 KB in all).');
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new GatewayError('request_timeout', 'The request was not received completely in time.');
  }
  if (code === 'HPE_INVALID_CONTENT_LENGTH' || code === 'HPE_UNEXPECTED_CONTENT_LENGTH') {
    return new GatewayError('invalid_request', 'The Content-Length header is invalid, repeated with another value, or sent together with Transfer-Encoding.');
  }
  if (code === 'HPE_INVALID_TRANSFER_ENCODING' || code === 'HPE_INVALID_CHUNK_SIZE') {
    return new GatewayError('invalid_request', 'The Transfer-Encoding header or the chunked body is malformed.');
  }
  return new GatewayError('invalid_request', 'The request is not a well-formed HTTP/1.1 message.');
}

/** Fastify's `clientErrorHandler`: writes the answer straight to the socket, then closes it. */
export function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset or an already closed socket has nobody left to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const gatewayError = parserErrorToGatewayError(error);
  const body = JSON.stringify(gatewayError.toBody());
  const head = [
    `HTTP/1.1 ${gatewayError.status} ${statusText(gatewayError.status)}`,
    'content-type: application/json; charset=utf-8',
    `content-length: ${Buffer.byteLength(body)}`,
    `x-request-id: ${newRequestId()}`,
    'x-should-retry: false',
    'connection: close',
  ];
  // end() flushes the answer before the FIN; a client that keeps sending is cut after a bound.
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  socket.setTimeout(lingerMs, () => socket.destroy());
}

/** Fastify's `frameworkErrors`: a URL the router cannot take (bad encoding, a parameter too long). */
export function answerFrameworkError(error: { code?: string }, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const gatewayError =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? new GatewayError('not_found', `Nothing exists at this URL: a path segment is longer than ${maxPathParameterLength} characters.`)
      : new GatewayError('invalid_value', 'The request URL is not valid: it has a malformed percent-encoding.');
  // These replies are made outside any route, so the hooks that usually add the request id do not run.
  return reply
    .code(gatewayError.status)
    .header('x-request-id', request.id)
    .header('x-should-retry', 'false')
    .type('application/json; charset=utf-8')
    .send(JSON.stringify(gatewayError.toBody()));
}

/** Fastify's default for routerOptions.maxParamLength, kept: ids and keys are far shorter. */
export const maxPathParameterLength = 100;

function statusText(status: number): string {
  return { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[status] ?? 'Bad Request';
}
