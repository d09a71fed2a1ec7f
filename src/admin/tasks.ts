// Admin API for asynchronous tasks (the "drawing log"): every task with its status and progress,
// one task's timeline (queued → started → submitted upstream → polled → stored → webhook attempts)
// and images, cancel, and sending a finished webhook once more. Key holders see their own tasks.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { TaskRecord, TaskStatus } from '../core/ports/task-store.js';
import { reservationIdOf } from '../tasks/stored-request.js';
import type { AdminDeps } from './deps.js';
import { queryLimit, queryString } from './fields.js';
import { imageLinks } from './images.js';
import { assertVisible, keyScope } from './principal.js';

const statuses: readonly TaskStatus[] = ['queued', 'in_progress', 'succeeded', 'failed', 'canceled'];
const seconds = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / 1000));

/** The request's fields as stored with the task (src/tasks/stored-request.ts). */
const fieldsOf = (task: TaskRecord): Record<string, unknown> => (task.request.fields ?? {}) as Record<string, unknown>;

function taskSummary(task: TaskRecord) {
  const prompt = typeof fieldsOf(task).prompt === 'string' ? String(fieldsOf(task).prompt).slice(0, 1000) : null;
  return {
    id: task.id,
    object: 'admin.task',
    key_id: task.keyId,
    operation: task.operation,
    model: task.model,
    status: task.status,
    progress: task.status === 'succeeded' ? 100 : task.progress,
    prompt,
    attempts: task.attempts,
    created_at: seconds(task.createdAt),
    started_at: seconds(task.startedAt),
    completed_at: seconds(task.completedAt),
    error: task.error,
  };
}

/** The request as the client sent it, without image references or the webhook secret. */
function parametersOf(task: TaskRecord): Record<string, unknown> {
  const hidden = new Set(['prompt', 'images', 'mask', 'webhook_secret', 'image', 'warnings']);
  return Object.fromEntries(Object.entries(fieldsOf(task)).filter(([name, value]) => !hidden.has(name) && (typeof value !== 'object' || value === null)));
}

export function registerTaskRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const load = async (request: FastifyRequest<{ Params: { id: string } }>): Promise<TaskRecord> => {
    const notFound = () => new GatewayError('not_found', `No task found with id '${request.params.id}'.`, { param: 'id' });
    const task = await deps.tasks.get(request.params.id);
    if (!task) throw notFound();
    assertVisible(request, task.keyId, notFound);
    return task;
  };

  app.get<{ Querystring: Record<string, unknown> }>('/tasks', { config: { keyHolder: true } }, async (request) => {
    const status = queryString(request.query.status, 'status');
    if (status !== undefined && !statuses.includes(status as TaskStatus)) {
      throw new GatewayError('invalid_value', `Invalid value for 'status': use one of ${statuses.join(', ')}.`, { param: 'status' });
    }
    const tasks = await deps.insights.tasks({
      keyId: keyScope(request, queryString(request.query.key, 'key')),
      status: status as TaskStatus | undefined,
      model: queryString(request.query.model, 'model'),
      limit: queryLimit(request.query.limit, 50, 500),
    });
    return { object: 'list', data: tasks.map(taskSummary) };
  });

  app.get<{ Params: { id: string } }>('/tasks/:id', { config: { keyHolder: true } }, async (request) => {
    const task = await load(request);
    const [events, webhook, usage] = await Promise.all([deps.taskEvents.list(task.id), deps.webhooks.describe(task.id), deps.insights.usageFor(reservationIdOf(task.request, task.id), task.keyId)]);
    const timeline = [
      ...events.map((event) => ({ at_ms: event.at, kind: event.kind as string, detail: event.detail })),
      ...(webhook?.attempts ?? []).map((attempt) => ({
        at_ms: attempt.attempted_at * 1000,
        kind: 'webhook',
        detail: { attempt: attempt.attempt, status_code: attempt.status_code, error: attempt.error } as Record<string, unknown>,
      })),
    ].sort((a, b) => a.at_ms - b.at_ms);
    const blobKeys = ((task.result as { data?: Array<{ blob_key?: unknown }> } | null)?.data ?? []).flatMap((item) => (typeof item.blob_key === 'string' ? [item.blob_key] : []));
    return {
      ...taskSummary(task),
      parameters: parametersOf(task),
      timeline: timeline.map(({ at_ms, kind, detail }) => ({ at: at_ms / 1000, kind, detail })),
      webhook: webhook === undefined ? null : { url: webhook.url, status: webhook.status, attempts: webhook.attempts.length },
      images: imageLinks(deps, blobKeys, task.createdAt),
      amount: usage?.amount ?? null,
    };
  });

  app.post<{ Params: { id: string } }>('/tasks/:id/cancel', { config: { keyHolder: true, audit: 'task.canceled' } }, async (request) => {
    const task = await load(request);
    const outcome = await deps.taskService.cancel(task.id, task.keyId);
    if (outcome.kind === 'not_found') throw new GatewayError('not_found', `No task found with id '${task.id}'.`, { param: 'id' });
    if (outcome.kind === 'already_finished') throw new GatewayError('conflict', `Task '${task.id}' already finished (${outcome.task.status}); there is nothing to cancel.`, { param: 'id' });
    return taskSummary(outcome.task);
  });

  app.post<{ Params: { id: string } }>('/tasks/:id/retry-webhook', { config: { audit: 'task.webhook_retried' } }, async (request) => {
    const task = await load(request);
    if (!(await deps.webhooks.retry(task.id))) {
      throw new GatewayError('conflict', `Task '${task.id}' has no finished webhook delivery to retry (none registered, or one is still pending).`, { param: 'id' });
    }
    return { object: 'webhook.retry', task_id: task.id, status: 'pending' };
  });
}
