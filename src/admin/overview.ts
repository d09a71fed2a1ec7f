// What the console's overview shows: traffic over the last hour, day or 30 days (requests, images,
// spend, errors) bucketed for charts and broken down by model, channel and key; the live state of
// the queue and the channels; and the retention settings. Key holders get their own traffic only.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';
import { creditsToUsd } from '../core/money.js';
import type { TrafficGroup, TrafficTotals } from '../core/ports/insights.js';
import type { AdminDeps } from './deps.js';
import { queryString } from './fields.js';
import { keyScope } from './principal.js';

const minute = 60_000;
const hour = 60 * minute;
/** The window and the bucket width that gives a chart about 30-60 points. */
const windows = {
  hour: { span: hour, bucket: minute },
  day: { span: 24 * hour, bucket: 30 * minute },
  month: { span: 30 * 24 * hour, bucket: 24 * hour },
} as const;

const totalsView = (totals: TrafficTotals) => ({
  requests: totals.requests,
  errors: totals.errors,
  error_rate: totals.requests === 0 ? 0 : totals.errors / totals.requests,
  images_delivered: totals.imagesDelivered,
  amount: totals.amount,
  amount_usd: creditsToUsd(totals.amount),
});
const groupView = (group: TrafficGroup) => ({ group: group.group, ...totalsView(group) });

export function registerOverviewRoutes(app: FastifyInstance, deps: AdminDeps): void {
  app.get<{ Querystring: Record<string, unknown> }>('/stats', { config: { keyHolder: true } }, async (request) => {
    const name = queryString(request.query.window, 'window') ?? 'day';
    if (!(name in windows)) throw new GatewayError('invalid_value', "Invalid value for 'window': use 'hour', 'day' or 'month' (30 days).", { param: 'window' });
    const window = windows[name as keyof typeof windows];
    await deps.requestLog.flush();
    const to = deps.clock.now();
    // Buckets aligned to their width, the last one holding now: span / bucket of them exactly.
    const from = (Math.floor(to / window.bucket) + 1) * window.bucket - window.span;
    const filter = { from, to, keyId: keyScope(request, queryString(request.query.key, 'key')) };
    const [series, byModel, byChannel, byKey] = await Promise.all([
      deps.insights.traffic(filter, window.bucket),
      deps.insights.breakdown(filter, 'model'),
      deps.insights.breakdown(filter, 'channel'),
      request.principal.role === 'operator' ? deps.insights.breakdown(filter, 'key') : Promise.resolve([]),
    ]);
    const total = series.reduce<TrafficTotals>(
      (sum, bucket) => ({ requests: sum.requests + bucket.requests, errors: sum.errors + bucket.errors, imagesDelivered: sum.imagesDelivered + bucket.imagesDelivered, amount: sum.amount + bucket.amount }),
      { requests: 0, errors: 0, imagesDelivered: 0, amount: 0 },
    );
    return {
      object: 'stats',
      window: name,
      from: Math.floor(filter.from / 1000),
      to: Math.floor(to / 1000),
      bucket_seconds: window.bucket / 1000,
      totals: totalsView(total),
      series: series.map((bucket) => ({ start: Math.floor(bucket.start / 1000), ...totalsView(bucket) })),
      by_model: byModel.map(groupView),
      by_channel: byChannel.map(groupView),
      // Keys are shown by name, with the id kept in `group`.
      by_key: await (async () => {
        if (byKey.length === 0) return [];
        const names = new Map((await deps.keys.list()).map((key) => [key.id, key.name]));
        return byKey.map((group) => ({ ...groupView(group), label: group.group === null ? null : `${names.get(group.group) ?? 'deleted key'} (${group.group})` }));
      })(),
    };
  });

  app.get('/status', async () => {
    const totals = await deps.insights.totals();
    const channels = deps.channels.list();
    return {
      object: 'status',
      tasks: { queued: totals.tasksByStatus.queued, in_progress: totals.tasksByStatus.in_progress, by_status: totals.tasksByStatus },
      channels: channels.map((channel) => ({
        name: channel.name,
        provider: channel.provider,
        enabled: channel.enabled,
        circuit: channel.health.circuit,
        consecutive_failures: channel.health.consecutive_failures,
        in_flight: channel.health.in_flight,
        queued: channel.health.queued,
      })),
      in_flight: channels.reduce((sum, channel) => sum + channel.health.in_flight, 0),
      waiting_for_channel: channels.reduce((sum, channel) => sum + channel.health.queued, 0),
      billing: { charged: totals.chargedCredits, charged_usd: creditsToUsd(totals.chargedCredits), held: totals.heldCredits, images_billed: totals.imagesBilled },
    };
  });

  app.get('/settings', { config: { keyHolder: true } }, async () => ({
    object: 'settings',
    retention: {
      images_and_tasks_hours: deps.retention.imagesAndTasksHours,
      request_log_days: deps.retention.requestLogDays,
      usage_detail_days: deps.retention.usageDetailDays,
    },
  }));
}
