// Admin API for what happened: the request log (filtered by key, model, channel, outcome and time;
// one entry with its prompt, parameters, warnings, charge and images) and the usage rows (every
// charge and its arithmetic), or usage totalled per model or day. Key holders see their own only.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { UsageRecord } from '../core/ports/billing-store.js';
import { GatewayError } from '../core/errors.js';
import { creditsToUsd } from '../core/money.js';
import type { RequestLogEntry } from '../core/ports/request-log.js';
import { parseGrouping, parseTimeBound, renderTotals } from '../http/routes/usage.js';
import type { AdminDeps } from './deps.js';
import { queryLimit, queryString } from './fields.js';
import { assertVisible, keyScope } from './principal.js';
import { imageLinks } from './images.js';

type Query = Record<string, unknown>;

function filters(request: FastifyRequest<{ Querystring: Query }>) {
  const query = request.query;
  return {
    keyId: keyScope(request, queryString(query.key, 'key')),
    requestId: queryString(query.request_id, 'request_id'),
    model: queryString(query.model, 'model'),
    from: parseTimeBound(query.from, 'from'),
    to: parseTimeBound(query.to, 'to'),
  };
}

function outcomeOf(value: unknown): 'succeeded' | 'failed' | undefined {
  const text = queryString(value, 'status');
  if (text === undefined || text === 'succeeded' || text === 'failed') return text;
  throw new GatewayError('invalid_value', "Invalid value for 'status': use 'succeeded' or 'failed'.", { param: 'status' });
}

export const logEntryView = (entry: RequestLogEntry) => ({
  id: entry.id,
  request_id: entry.requestId,
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
});

export const usageView = (record: UsageRecord) => ({
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
});

export function registerLogRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: Query }>('/logs', { config: { keyHolder: true } }, async (request) => {
    // Log entries are written in batches off the request path; show everything recorded so far.
    await deps.requestLog.flush();
    const entries = await deps.requestLog.query({
      ...filters(request),
      channel: queryString(request.query.channel, 'channel'),
      outcome: outcomeOf(request.query.status),
      limit: queryLimit(request.query.limit, 100, 1000),
    });
    return { object: 'list', data: entries.map(logEntryView) };
  });

  app.get<{ Params: { id: string } }>('/logs/:id', { config: { keyHolder: true } }, async (request) => {
    const notFound = () => new GatewayError('not_found', `No request with id '${request.params.id}' in the request log.`, { param: 'id' });
    await deps.requestLog.flush();
    // The row id from a listing, or a request id (what a client quotes from x-request-id) within the caller's scope.
    const entry = await deps.requestLog.get(request.params.id, keyScope(request, undefined));
    if (!entry) throw notFound();
    assertVisible(request, entry.keyId, notFound);
    const details = entry.details ?? {};
    // A request that became a task was charged (and delivered its images) as that task.
    const reference = details.taskId ?? entry.requestId;
    const usage = entry.keyId === null ? undefined : await deps.insights.usageFor(reference, entry.keyId);
    const task = details.taskId === undefined ? undefined : await deps.tasks.get(details.taskId);
    const blobKeys = details.imageKeys ?? (task?.result as { data?: Array<{ blob_key?: string }> } | null | undefined)?.data?.flatMap((item) => (item.blob_key ? [item.blob_key] : [])) ?? [];
    return {
      object: 'request_log.entry',
      ...logEntryView(entry),
      prompt: details.prompt ?? null,
      parameters: details.parameters ?? null,
      warnings: details.warnings ?? [],
      task_id: details.taskId ?? null,
      generation_ms: details.generationMs ?? null,
      usage: usage === undefined ? null : usageView(usage),
      images: imageLinks(deps, blobKeys, entry.createdAt),
    };
  });

  app.get<{ Querystring: Query }>('/usage', { config: { keyHolder: true } }, async (request) => {
    const filter = filters(request);
    const grouping = parseGrouping(request.query.group_by);
    if (grouping !== undefined) {
      const rows = await deps.billing.summarizeUsage(filter, grouping);
      return { object: 'list', group_by: grouping, data: rows.map((row) => renderTotals(row, grouping)) };
    }
    const records = await deps.billing.listUsage({ ...filter, limit: queryLimit(request.query.limit, 100, 1000) });
    return { object: 'list', data: records.map(usageView) };
  });
}
