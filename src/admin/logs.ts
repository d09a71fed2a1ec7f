// Admin API for what happened: the request log and the usage rows (every charge and its
// arithmetic), filtered by key, model and time, or usage totalled per model or day.

import type { FastifyInstance } from 'fastify';
import { creditsToUsd } from '../core/money.js';
import { parseGrouping, parseTimeBound, renderTotals } from '../http/routes/usage.js';
import type { AdminDeps } from './deps.js';
import { queryLimit, queryString } from './fields.js';

type Query = Record<string, unknown>;

function filters(query: Query) {
  return {
    keyId: queryString(query.key, 'key'),
    model: queryString(query.model, 'model'),
    from: parseTimeBound(query.from, 'from'),
    to: parseTimeBound(query.to, 'to'),
  };
}

export function registerLogRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: Query }>('/logs', async (request) => {
    // Log entries are written in batches off the request path; show everything recorded so far.
    await deps.requestLog.flush();
    const entries = await deps.requestLog.query({ ...filters(request.query), limit: queryLimit(request.query.limit, 100, 1000) });
    return {
      object: 'list',
      data: entries.map((entry) => ({
        id: entry.id,
        key_id: entry.keyId,
        endpoint: entry.endpoint,
        model: entry.model,
        provider: entry.provider,
        channel: entry.channel,
        status: entry.status,
        images_requested: entry.imagesRequested,
        images_delivered: entry.imagesDelivered,
        size: entry.size,
        latency_ms: entry.latencyMs,
        error_code: entry.errorCode,
        client_ip: entry.clientIp ?? null,
        created_at: Math.floor(entry.createdAt / 1000),
      })),
    };
  });

  app.get<{ Querystring: Query }>('/usage', async (request) => {
    const filter = filters(request.query);
    const grouping = parseGrouping(request.query.group_by);
    if (grouping !== undefined) {
      const rows = await deps.billing.summarizeUsage(filter, grouping);
      return { object: 'list', group_by: grouping, data: rows.map((row) => renderTotals(row, grouping)) };
    }
    const records = await deps.billing.listUsage({ ...filter, limit: queryLimit(request.query.limit, 100, 1000) });
    return {
      object: 'list',
      data: records.map((record) => ({
        id: record.reservationId,
        key_id: record.keyId,
        model: record.model,
        operation: record.operation,
        provider: record.provider,
        channel: record.channel,
        images_requested: record.imagesRequested,
        images_delivered: record.imagesDelivered,
        size: record.size,
        quality: record.quality,
        price_group: record.priceGroup,
        unit: record.unit,
        unit_price: record.unitPrice,
        input_text_tokens: record.inputTextTokens,
        input_image_tokens: record.inputImageTokens,
        output_tokens: record.outputTokens,
        amount: record.amount,
        amount_usd: creditsToUsd(record.amount),
        metered: record.metered,
        detail: record.detail,
        created_at: Math.floor(record.createdAt / 1000),
      })),
    };
  });
}
