// GET /v1/files/<blob key>?expires=&signature=: hosted results behind signed, expiring URLs.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { filesPathPrefix } from '../../core/signed-urls.js';
import type { HttpDeps } from '../deps.js';
import { sendError } from '../errors.js';

export function registerFilesRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { '*': string }; Querystring: { expires?: string; signature?: string } }>(`${filesPathPrefix}*`, async (request, reply) => {
    request.imagegate.endpoint = 'files';
    const key = request.params['*'];
    const verdict = deps.signer.verify(key, request.query.expires, request.query.signature);
    if (verdict !== 'ok') {
      const message = verdict === 'expired' ? 'This image link has expired. Request the image again for a new link.' : 'This image link has an invalid signature.';
      return sendError(request, reply, new GatewayError('invalid_signature', message));
    }
    const blob = await deps.blobs.get(key);
    if (!blob) return sendError(request, reply, new GatewayError('not_found', 'No image exists at this link.'));
    const etag = `"${blob.etag}"`;
    const remaining = Math.max(0, Number(request.query.expires) - Math.floor(deps.clock.now() / 1000));
    reply.headers({
      etag,
      'cache-control': `private, max-age=${remaining}, immutable`,
      'last-modified': new Date(blob.createdAt).toUTCString(),
      'x-content-type-options': 'nosniff',
    });
    if (matchesEtag(request.headers['if-none-match'], etag)) return reply.code(304).send();
    return reply.type(blob.contentType).header('content-length', blob.size).send(blob.data);
  });
}

/** If-None-Match may list several tags, weak ones (`W/"…"`) or `*` (RFC 9110 §13.1.2: weak comparison). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}
