// The console's and /metrics' read-only questions, answered with portable SQL (SQLite and PostgreSQL)
// over the request log, the billing rows and the tasks table (see src/core/ports/insights.ts).

import { sql, type Kysely } from 'kysely';
import type { UsageRecord } from '../../core/ports/billing-store.js';
import { toUsageRecord } from './billing.js';
import type { GalleryFilter, GalleryItem, Insights, LedgerEntry, RunningTotals, TaskListFilter, TrafficBucket, TrafficFilter, TrafficGroup, TrafficTotals } from '../../core/ports/insights.js';
import type { RequestDetails } from '../../core/ports/request-log.js';
import type { TaskRecord, TaskStatus } from '../../core/ports/task-store.js';
import type { DatabaseSchema } from './schema.js';
import { toRecord } from './task-store.js';

const emptyTotals = (): TrafficTotals => ({ requests: 0, errors: 0, imagesDelivered: 0, amount: 0 });
const groupColumns = { model: 'model', channel: 'channel', key: 'key_id' } as const;

export class SqlInsights implements Insights {
  readonly #db: Kysely<DatabaseSchema>;

  constructor(db: Kysely<DatabaseSchema>) {
    this.#db = db;
  }

  async traffic(filter: TrafficFilter, bucketMs: number): Promise<TrafficBucket[]> {
    // A literal, not a parameter: better-sqlite3 binds JS numbers as REAL, and the division must be an integer one.
    const width = sql.lit(Math.max(1, Math.floor(bucketMs)));
    const bucket = sql<number>`(created_at / ${width}) * ${width}`;
    let requests = this.#db
      .selectFrom('request_logs')
      .select([bucket.as('start'), sql<number>`count(*)`.as('requests'), sql<number>`sum(case when status >= 400 then 1 else 0 end)`.as('errors')])
      .where('created_at', '>=', filter.from)
      .where('created_at', '<', filter.to)
      .where('endpoint', 'like', 'images.%');
    let usage = this.#db
      .selectFrom('billing_usage')
      .select([bucket.as('start'), sql<number>`sum(images_delivered)`.as('images'), sql<number>`sum(amount)`.as('amount')])
      .where('created_at', '>=', filter.from)
      .where('created_at', '<', filter.to);
    if (filter.keyId !== undefined) {
      requests = requests.where('key_id', '=', filter.keyId);
      usage = usage.where('key_id', '=', filter.keyId);
    }
    const [requestRows, usageRows] = await Promise.all([requests.groupBy('start').execute(), usage.groupBy('start').execute()]);
    // Every bucket of the window, empty ones included, so a chart's time axis has no holes.
    const first = Math.floor(filter.from / bucketMs) * bucketMs;
    const buckets = new Map<number, TrafficBucket>();
    for (let start = first; start < filter.to; start += bucketMs) buckets.set(start, { start, ...emptyTotals() });
    for (const row of requestRows) {
      const entry = buckets.get(Number(row.start));
      if (entry) Object.assign(entry, { requests: Number(row.requests), errors: Number(row.errors) });
    }
    for (const row of usageRows) {
      const entry = buckets.get(Number(row.start));
      if (entry) Object.assign(entry, { imagesDelivered: Number(row.images), amount: Number(row.amount) });
    }
    return [...buckets.values()];
  }

  async breakdown(filter: TrafficFilter, by: 'model' | 'channel' | 'key'): Promise<TrafficGroup[]> {
    const column = groupColumns[by];
    let requests = this.#db
      .selectFrom('request_logs')
      .select([sql<string | null>`${sql.ref(column)}`.as('grp'), sql<number>`count(*)`.as('requests'), sql<number>`sum(case when status >= 400 then 1 else 0 end)`.as('errors')])
      .where('created_at', '>=', filter.from)
      .where('created_at', '<', filter.to)
      .where('endpoint', 'like', 'images.%');
    let usage = this.#db
      .selectFrom('billing_usage')
      .select([sql<string | null>`${sql.ref(column)}`.as('grp'), sql<number>`sum(images_delivered)`.as('images'), sql<number>`sum(amount)`.as('amount')])
      .where('created_at', '>=', filter.from)
      .where('created_at', '<', filter.to);
    if (filter.keyId !== undefined) {
      requests = requests.where('key_id', '=', filter.keyId);
      usage = usage.where('key_id', '=', filter.keyId);
    }
    const [requestRows, usageRows] = await Promise.all([requests.groupBy('grp').execute(), usage.groupBy('grp').execute()]);
    const groups = new Map<string | null, TrafficGroup>();
    const entry = (group: string | null) => {
      let found = groups.get(group);
      if (!found) groups.set(group, (found = { group, ...emptyTotals() }));
      return found;
    };
    for (const row of requestRows) Object.assign(entry(row.grp), { requests: Number(row.requests), errors: Number(row.errors) });
    for (const row of usageRows) Object.assign(entry(row.grp), { imagesDelivered: Number(row.images), amount: Number(row.amount) });
    return [...groups.values()].sort((a, b) => b.requests - a.requests || b.amount - a.amount);
  }

  async gallery(filter: GalleryFilter): Promise<GalleryItem[]> {
    let requests = this.#db
      .selectFrom('request_logs')
      // Usage rows are keyed by (key, request id): callers choose request ids, and two keys may repeat one.
      .leftJoin('billing_usage', (join) => join.onRef('billing_usage.reservation_id', '=', 'request_logs.request_id').onRef('billing_usage.key_id', '=', 'request_logs.key_id'))
      .select(['request_logs.id', 'request_logs.key_id', 'request_logs.model', 'request_logs.details', 'request_logs.created_at', 'billing_usage.amount'])
      // Only entries whose details name stored images (a text test both SQLite and PostgreSQL run alike).
      .where('request_logs.details', 'like', '%"imageKeys":["%');
    let tasks = this.#db
      .selectFrom('tasks')
      .leftJoin('billing_usage', (join) => join.onRef('billing_usage.reservation_id', '=', 'tasks.id').onRef('billing_usage.key_id', '=', 'tasks.key_id'))
      .select(['tasks.id', 'tasks.key_id', 'tasks.model', 'tasks.request', 'tasks.result', 'tasks.created_at', 'billing_usage.amount'])
      .where('tasks.status', '=', 'succeeded');
    if (filter.keyId !== undefined) {
      requests = requests.where('request_logs.key_id', '=', filter.keyId);
      tasks = tasks.where('tasks.key_id', '=', filter.keyId);
    }
    if (filter.model !== undefined) {
      requests = requests.where('request_logs.model', '=', filter.model);
      tasks = tasks.where('tasks.model', '=', filter.model);
    }
    if (filter.from !== undefined) {
      requests = requests.where('request_logs.created_at', '>=', filter.from);
      tasks = tasks.where('tasks.created_at', '>=', filter.from);
    }
    if (filter.to !== undefined) {
      requests = requests.where('request_logs.created_at', '<', filter.to);
      tasks = tasks.where('tasks.created_at', '<', filter.to);
    }
    const [requestRows, taskRows] = await Promise.all([
      requests.orderBy('request_logs.created_at', 'desc').limit(filter.limit).execute(),
      tasks.orderBy('tasks.created_at', 'desc').limit(filter.limit).execute(),
    ]);
    const items: GalleryItem[] = [];
    for (const row of requestRows) {
      const details = JSON.parse(row.details ?? '{}') as RequestDetails;
      // A request that became a task shows once, as the task.
      if (details.taskId !== undefined) continue;
      items.push({ source: row.id, kind: 'request', keyId: row.key_id, model: row.model, prompt: details.prompt ?? null, blobKeys: details.imageKeys ?? [], amount: row.amount ?? null, createdAt: row.created_at });
    }
    for (const row of taskRows) {
      const request = (JSON.parse(row.request) as { fields?: { prompt?: unknown } }).fields ?? {};
      const result = JSON.parse(row.result ?? '{}') as { data?: Array<{ blob_key?: unknown }> };
      const blobKeys = (result.data ?? []).flatMap((item) => (typeof item.blob_key === 'string' ? [item.blob_key] : []));
      if (blobKeys.length === 0) continue;
      const prompt = typeof request.prompt === 'string' ? request.prompt.slice(0, 1000) : null;
      items.push({ source: row.id, kind: 'task', keyId: row.key_id, model: row.model, prompt, blobKeys, amount: row.amount ?? null, createdAt: row.created_at });
    }
    return items.sort((a, b) => b.createdAt - a.createdAt).slice(0, filter.limit);
  }

  async ledger(keyId: string, limit: number): Promise<LedgerEntry[]> {
    const [credits, charges] = await Promise.all([
      this.#db.selectFrom('billing_ledger').selectAll().where('key_id', '=', keyId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute(),
      this.#db
        .selectFrom('billing_usage')
        .select(['reservation_id', 'amount', 'model', 'images_delivered', 'metered', 'created_at'])
        .where('key_id', '=', keyId)
        .orderBy('created_at', 'desc')
        .limit(limit)
        .execute(),
    ]);
    const entries: LedgerEntry[] = [
      ...credits.map((row) => ({ at: row.created_at, kind: row.kind, amount: row.kind === 'writeoff' ? -Math.abs(row.amount) : row.amount, note: row.note, reference: null })),
      ...charges.map((row) => ({
        at: row.created_at,
        kind: 'charge' as const,
        amount: row.metered ? -row.amount : 0,
        note: `${row.images_delivered} × ${row.model}${row.metered ? '' : ` (unlimited key; would cost ${row.amount})`}`,
        reference: row.reservation_id,
      })),
    ];
    return entries.sort((a, b) => b.at - a.at).slice(0, limit);
  }

  async tasks(filter: TaskListFilter): Promise<TaskRecord[]> {
    let query = this.#db.selectFrom('tasks').selectAll();
    if (filter.keyId !== undefined) query = query.where('key_id', '=', filter.keyId);
    if (filter.status !== undefined) query = query.where('status', '=', filter.status);
    if (filter.model !== undefined) query = query.where('model', '=', filter.model);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(filter.limit).execute();
    return rows.map(toRecord);
  }

  async usageFor(reservationId: string, keyId: string): Promise<UsageRecord | undefined> {
    const row = await this.#db.selectFrom('billing_usage').selectAll().where('reservation_id', '=', reservationId).where('key_id', '=', keyId).executeTakeFirst();
    return row === undefined ? undefined : toUsageRecord(row);
  }

  async totals(): Promise<RunningTotals> {
    const [statuses, usage, held] = await Promise.all([
      this.#db.selectFrom('tasks').select(['status', sql<number>`count(*)`.as('count')]).groupBy('status').execute(),
      this.#db.selectFrom('billing_usage').select([sql<number>`coalesce(sum(case when metered = 1 then amount else 0 end), 0)`.as('amount'), sql<number>`coalesce(sum(images_delivered), 0)`.as('images')]).executeTakeFirstOrThrow(),
      this.#db.selectFrom('billing_reservations').select(sql<number>`coalesce(sum(debited), 0)`.as('held')).where('status', '=', 'held').executeTakeFirstOrThrow(),
    ]);
    const tasksByStatus: Record<TaskStatus, number> = { queued: 0, in_progress: 0, succeeded: 0, failed: 0, canceled: 0 };
    for (const row of statuses) if (row.status in tasksByStatus) tasksByStatus[row.status as TaskStatus] = Number(row.count);
    return { tasksByStatus, chargedCredits: Number(usage.amount), imagesBilled: Number(usage.images), heldCredits: Number(held.held) };
  }
}
