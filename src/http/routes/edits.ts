// POST /v1/images/edits: multipart as the openai SDK sends it, or JSON with image URLs / data URLs.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { fetchImageReferences } from '../image-body.js';
import { defaultMultipartLimits, isMultipartRequest, readMultipartBody } from '../multipart-body.js';
import { handleImageOperation } from './image-operation.js';

export function registerEditsRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/v1/images/edits', { config: { endpoint: 'images.edits' }, preHandler: app.authenticate }, async (request, reply) => {
    request.imagegate.endpoint = 'images.edits';
    if (isMultipartRequest(request)) {
      const parsed = await readMultipartBody(request, { ...defaultMultipartLimits, maxFileBytes: deps.settings.maxImageBytes });
      return handleImageOperation('edit', parsed, request, reply, deps);
    }
    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new GatewayError('invalid_json', 'The request body must be a JSON object or multipart/form-data.');
    }
    const signal = AbortSignal.timeout(60_000);
    const parsed = await fetchImageReferences(body as Record<string, unknown>, deps.userUrls, deps.settings.maxImageBytes, signal);
    return handleImageOperation('edit', parsed, request, reply, deps);
  });
}
