// GET /v1/files/<blob key>?expires=&signature=: hosted results behind signed, expiring URLs, served
// as a static file server would: validators (ETag, Last-Modified), conditional GETs (304), and byte
// ranges (Accept-Ranges, 206, 416, If-Range) so a large image can resume. Ranges are read through the
// BlobStore port, so every store (local disk, S3) serves them without loading the whole object.

import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { StoredBlob, StoredBlobRange } from '../../core/ports/blob-store.js';
import { filesPathPrefix } from '../../core/signed-urls.js';
import { parseRangeHeader } from '../byte-range.js';
import type { HttpDeps } from '../deps.js';
import { sendError } from '../errors.js';

type Validators = Pick<StoredBlob, 'etag' | 'createdAt' | 'contentType'>;

/** Sent with every hosted result (see setValidators); docs/providers.md (Recraft) explains the choice. */
export const fileContentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

export function registerFilesRoute(app: FastifyInstance, deps: HttpDeps): void {
  app.get<{ Params: { '*': string }; Querystring: { expires?: string; signature?: string } }>(`${filesPathPrefix}*`, async (request, reply) => {
    request.imagegate.endpoint = 'files';
    const key = request.params['*'];
    const verdict = deps.signer.verify(key, request.query.expires, request.query.signature);
    if (verdict !== 'ok') {
      const message = verdict === 'expired' ? 'This image link has expired. Request the image again for a new link.' : 'This image link has an invalid signature.';
      return sendError(request, reply, new GatewayError('invalid_signature', message));
    }
    const notFound = () => sendError(request, reply, new GatewayError('not_found', 'No image exists at this link.'));
    const range = parseRangeHeader(request.headers.range);
    if (range !== undefined) {
      const part = await deps.blobs.getRange(key, range);
      if (part === undefined) return notFound();
      if ('unsatisfiable' in part) {
        reply.headers({ 'accept-ranges': 'bytes', 'content-range': `bytes */${part.size}` });
        return sendError(request, reply, new GatewayError('range_not_satisfiable', `The requested range is outside the image, which is ${part.size} bytes long.`, { param: 'range' }));
      }
      setValidators(reply, request, deps, part);
      if (matchesEtag(request.headers['if-none-match'], `"${part.etag}"`)) return reply.code(304).send();
      // If-Range (RFC 9110 §13.1.5): the range only applies to the version the client already holds.
      const ifRange = request.headers['if-range'];
      if (!Array.isArray(ifRange) && ifRangeHolds(ifRange, part)) return sendPart(reply, part);
    }
    const blob = await deps.blobs.get(key);
    if (!blob) return notFound();
    setValidators(reply, request, deps, blob);
    if (matchesEtag(request.headers['if-none-match'], `"${blob.etag}"`)) return reply.code(304).send();
    return reply.type(blob.contentType).header('content-length', blob.size).send(blob.data);
  });
}

function setValidators(reply: FastifyReply, request: FastifyRequest<{ Querystring: { expires?: string } }>, deps: HttpDeps, blob: Validators): void {
  const remaining = Math.max(0, Number(request.query.expires) - Math.floor(deps.clock.now() / 1000));
  reply.headers({
    etag: `"${blob.etag}"`,
    'cache-control': `private, max-age=${remaining}, immutable`,
    'last-modified': new Date(blob.createdAt).toUTCString(),
    'accept-ranges': 'bytes',
    'x-content-type-options': 'nosniff',
    // Results are pictures, never pages. An SVG opened directly is a document that could run script
    // on the gateway's origin: this policy (sandbox: a unique origin, no scripts; nothing loaded but
    // inline styles and data: images) makes it inert whatever it contains. Harmless for rasters.
    'content-security-policy': fileContentSecurityPolicy,
  });
}

function sendPart(reply: FastifyReply, part: StoredBlobRange): FastifyReply {
  return reply
    .code(206)
    .type(part.contentType)
    .headers({ 'content-range': `bytes ${part.start}-${part.end}/${part.size}`, 'content-length': part.data.length })
    .send(part.data);
}

/** No If-Range, a strong entity tag equal to ours, or exactly our Last-Modified date. */
function ifRangeHolds(header: string | undefined, blob: Validators): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  // Weak tags never match here: a range needs byte-for-byte the same representation.
  if (value.startsWith('"')) return value === `"${blob.etag}"`;
  if (value.startsWith('W/')) return false;
  return value === new Date(blob.createdAt).toUTCString();
}

/** If-None-Match may list several tags, weak ones (`W/"…"`) or `*` (RFC 9110 §13.1.2: weak comparison). */
function matchesEtag(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return header.split(',').some((candidate) => {
    const tag = candidate.trim();
    return tag === '*' || tag.replace(/^W\//, '') === etag;
  });
}
