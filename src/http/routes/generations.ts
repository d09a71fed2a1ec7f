// POST /v1/images/generations (also with a trailing slash): JSON only, as OpenAI.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { isMultipartRequest } from '../multipart-body.js';
import { handleImageOperation } from './image-operation.js';

export function registerGenerationsRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/v1/images/generations', { config: { endpoint: 'images.generations' }, preHandler: app.authenticate }, async (request, reply) => {
    request.imagegate.endpoint = 'images.generations';
    if (isMultipartRequest(request)) {
      throw new GatewayError('unsupported_media_type', 'Image generation takes a JSON body (Content-Type: application/json).');
    }
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new GatewayError('invalid_json', 'The request body must be a JSON object.');
    }
    return handleImageOperation('generate', { fields: body as Record<string, unknown>, images: [], mask: undefined }, request, reply, deps);
  });
}
