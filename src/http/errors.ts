// The one error handler: every failure leaves as OpenAI's error shape with the request id, and
// nothing internal (stack, secrets, upstream bodies) leaks into it.

import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError, isGatewayError } from '../core/errors.js';

/** Translates framework errors (bad JSON, body limits, content types, schema validation) to ours. */
export function toGatewayError(error: unknown): GatewayError {
  if (isGatewayError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validation?: Array<{ instancePath?: string; params?: Record<string, unknown>; message?: string }> };
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new GatewayError('invalid_json', 'We could not parse the JSON body of your request. Send valid JSON with Content-Type: application/json.');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('request_too_large', `The request body is larger than this server accepts (${fastifyError.message ?? ''}).`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('unsupported_media_type', 'Unsupported Content-Type. Send application/json (or multipart/form-data for edits and variations).');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('invalid_json', 'The Content-Length header does not match the body.');
    default:
      break;
  }
  if (fastifyError.validation && fastifyError.validation.length > 0) {
    const first = fastifyError.validation[0];
    const fromPath = first?.instancePath?.split('/').filter(Boolean)[0];
    const missing = first?.params?.missingProperty as string | undefined;
    const param = missing ?? fromPath ?? null;
    return new GatewayError(missing ? 'missing_required_parameter' : 'invalid_value', param ? `Invalid '${param}': ${first?.message ?? 'invalid value'}.` : `Invalid request: ${first?.message}.`, { param });
  }
  if (typeof fastifyError.statusCode === 'number' && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new GatewayError('invalid_value', fastifyError.message ?? 'Invalid request.', { status: fastifyError.statusCode });
  }
  return new GatewayError('server_error', 'The server had an error while processing your request.', { cause: error });
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  const headers: Record<string, string> = { ...error.headers };
  if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(error.retryAfterSeconds)));
  // Errors the OpenAI SDK should not retry on its own (it retries 409/429/5xx by default).
  if (!error.retryable) headers['x-should-retry'] = 'false';
  request.imagegate.errorCode = error.code;
  return reply.code(error.status).headers(headers).send(error.toBody());
}

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error, request, reply) => {
    const gatewayError = toGatewayError(error);
    if (gatewayError.status >= 500) request.log.error({ err: error, code: gatewayError.code }, 'request failed');
    else request.log.debug({ code: gatewayError.code, message: gatewayError.message }, 'request rejected');
    return sendError(request, reply, gatewayError);
  });
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new GatewayError('not_found', `Unknown request URL: ${request.method} ${request.url.split('?')[0]}.`)),
  );
}
