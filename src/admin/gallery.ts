// GET /admin/v1/gallery: recent stored images across keys (a key holder's own), with prompt, model
// and cost; filtered by key, model and date. Images past the retention period are left out: they are deleted.

import type { FastifyInstance } from 'fastify';
import { creditsToUsd } from '../core/money.js';
import { parseTimeBound } from '../http/routes/usage.js';
import type { AdminDeps } from './deps.js';
import { queryLimit, queryString } from './fields.js';
import { imageLinks, retentionCutoff } from './images.js';
import { keyScope } from './principal.js';

export function registerGalleryRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>('/gallery', { config: { keyHolder: true } }, async (request) => {
    await deps.requestLog.flush();
    const from = parseTimeBound(request.query.from, 'from');
    const cutoff = retentionCutoff(deps);
    const items = await deps.insights.gallery({
      keyId: keyScope(request, queryString(request.query.key, 'key')),
      model: queryString(request.query.model, 'model'),
      from: Math.max(from ?? 0, cutoff),
      to: parseTimeBound(request.query.to, 'to'),
      limit: queryLimit(request.query.limit, 60, 500),
    });
    return {
      object: 'list',
      retention_hours: deps.retention.imagesAndTasksHours,
      data: items.map((item) => ({
        source: item.source,
        kind: item.kind,
        key_id: item.keyId,
        model: item.model,
        prompt: item.prompt,
        amount: item.amount,
        amount_usd: item.amount === null ? null : creditsToUsd(item.amount),
        created_at: Math.floor(item.createdAt / 1000),
        images: imageLinks(deps, item.blobKeys, item.createdAt),
      })),
    };
  });
}
