// GET /v1/usage?from=&to=&group_by=model|day: a key's own usage and balance, totalled per model or
// per UTC day. Amounts are integer credits (1 credit = $0.000001) with their dollar value beside.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { creditsToUsd } from '../../core/money.js';

/** One total row as the billing store reports it. */
export interface UsageTotals {
  group: string | null;
  requests: number;
  imagesRequested: number;
  imagesDelivered: number;
  amount: number;
}

/** What this route reads; the SQLite billing store provides it. */
export interface UsageReader {
  summarizeUsage(filter: { keyId?: string; model?: string; from?: number; to?: number }, groupBy: 'model' | 'day' | undefined): Promise<UsageTotals[]>;
  balance(keyId: string): Promise<number | null | undefined>;
}

export type UsageGrouping = 'model' | 'day';

/** A time bound: Unix seconds, or an ISO 8601 date or date-time (a bare date is midnight UTC). */
export function parseTimeBound(value: unknown, param: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') throw new GatewayError('invalid_value', `'${param}' must be given once.`, { param });
  if (/^\d{1,12}$/.test(value)) return Number(value) * 1000;
  const parsed = /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(parsed)) {
    throw new GatewayError('invalid_value', `Invalid value for '${param}': ${JSON.stringify(value)}. Use Unix seconds or an ISO 8601 date such as 2026-01-31.`, { param });
  }
  return parsed;
}

export function parseGrouping(value: unknown): UsageGrouping | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'model' || value === 'day') return value;
  throw new GatewayError('invalid_value', `Invalid value for 'group_by': ${JSON.stringify(value)}. Supported values are: 'model' and 'day'.`, { param: 'group_by' });
}

export function renderTotals(row: UsageTotals, grouping: UsageGrouping | undefined) {
  return {
    ...(grouping === undefined ? {} : { [grouping]: row.group }),
    requests: row.requests,
    images_requested: row.imagesRequested,
    images_delivered: row.imagesDelivered,
    amount: row.amount,
    amount_usd: creditsToUsd(row.amount),
  };
}

export function registerUsageRoute(app: FastifyInstance, deps: { usage: UsageReader }): void {
  app.get<{ Querystring: Record<string, unknown> }>('/v1/usage', { preHandler: app.authenticate }, async (request) => {
    const key = request.imagegate.key;
    if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
    const from = parseTimeBound(request.query.from, 'from');
    const to = parseTimeBound(request.query.to, 'to');
    if (from !== undefined && to !== undefined && to <= from) throw new GatewayError('invalid_value', "'to' must be later than 'from'.", { param: 'to' });
    const grouping = parseGrouping(request.query.group_by);
    // Always the caller's own key: a key never sees another's usage, whatever it asks for.
    const filter = { keyId: key.id, from, to };
    const [rows, totals, balance] = await Promise.all([
      grouping === undefined ? Promise.resolve([]) : deps.usage.summarizeUsage(filter, grouping),
      deps.usage.summarizeUsage(filter, undefined),
      deps.usage.balance(key.id),
    ]);
    const total = totals[0] ?? { group: null, requests: 0, imagesRequested: 0, imagesDelivered: 0, amount: 0 };
    return {
      object: 'usage',
      key: { id: key.id, name: key.name, prefix: key.prefix },
      from: from === undefined ? null : Math.floor(from / 1000),
      to: to === undefined ? null : Math.floor(to / 1000),
      group_by: grouping ?? null,
      unit: 'credit',
      credit_usd: creditsToUsd(1),
      balance: balance ?? null,
      balance_usd: balance === null || balance === undefined ? null : creditsToUsd(balance),
      data: rows.map((row) => renderTotals(row, grouping)),
      total: renderTotals(total, undefined),
    };
  });
}
