// POST /v1/images/variations: multipart, dall-e-2 semantics (one square PNG under 4 MB).

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { HttpDeps } from '../deps.js';
import { defaultMultipartLimits, isMultipartRequest, readMultipartBody } from '../multipart-body.js';
import { handleImageOperation } from './image-operation.js';

export function registerVariationsRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.post('/v1/images/variations', { config: { endpoint: 'images.variations' }, preHandler: app.authenticate }, async (request, reply) => {
    request.imagegate.endpoint = 'images.variations';
    if (!isMultipartRequest(request)) {
      throw new GatewayError('unsupported_media_type', 'Image variations take multipart/form-data with an image file part.');
    }
    const parsed = await readMultipartBody(request, { ...defaultMultipartLimits, maxFileBytes: deps.settings.maxImageBytes });
    return handleImageOperation('variation', parsed, request, reply, deps);
  });
}
