// GET /v1/images/tasks/{id} (and the aliases relay clients use: /v1/images/generations/{id},
// /v1/tasks/{id}), GET /v1/images/tasks (list), POST /v1/images/tasks/{id}/cancel. A task is
// visible only to the key that created it: any other key gets the same 404 as for no task at all.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { TaskStatus } from '../../core/ports/task-store.js';
import type { HttpDeps } from '../deps.js';
import { beginIdempotentRequest, renderTaskForClient } from '../image-tasks.js';
import { publicBase } from './image-operation.js';

const statuses: ReadonlySet<string> = new Set<TaskStatus>(['queued', 'in_progress', 'succeeded', 'failed', 'canceled']);
const defaultListLimit = 20;
const maxListLimit = 100;

function keyIdOf(request: FastifyRequest): string {
  const key = request.imagegate.key;
  if (!key) throw new GatewayError('invalid_api_key', 'This endpoint needs an API key.');
  return key.id;
}

function notFound(id: string): GatewayError {
  return new GatewayError('not_found', `No task found with id '${id}'.`, { param: 'task_id' });
}

function parseLimit(text: string | undefined): number {
  if (text === undefined || text === '') return defaultListLimit;
  const limit = Number(text);
  if (!/^\d+$/.test(text) || limit < 1 || limit > maxListLimit) {
    throw new GatewayError('invalid_value', `Invalid value for 'limit': '${text}'. It must be an integer from 1 to ${maxListLimit}.`, { param: 'limit' });
  }
  return limit;
}

export function registerTasksRoutes(app: FastifyInstance, deps: HttpDeps): void {
  const getTask = async (request: FastifyRequest<{ Params: { id: string } }>) => {
    request.imagegate.endpoint = 'tasks.get';
    const task = await deps.tasks.get(request.params.id, keyIdOf(request));
    if (!task) throw notFound(request.params.id);
    request.imagegate.model = task.model;
    return renderTaskForClient(task, deps, publicBase(request, deps));
  };
  app.get<{ Params: { id: string } }>('/v1/images/tasks/:id', { preHandler: app.authenticate }, getTask);
  app.get<{ Params: { id: string } }>('/v1/images/generations/:id', { preHandler: app.authenticate }, getTask);
  app.get<{ Params: { id: string } }>('/v1/tasks/:id', { preHandler: app.authenticate }, getTask);

  app.get<{ Querystring: { status?: string; limit?: string; after?: string } }>('/v1/images/tasks', { preHandler: app.authenticate }, async (request) => {
    request.imagegate.endpoint = 'tasks.list';
    const { status, after } = request.query;
    if (status !== undefined && !statuses.has(status)) {
      throw new GatewayError('invalid_value', `Invalid value for 'status': '${status}'. Use queued, in_progress, succeeded, failed or canceled.`, { param: 'status' });
    }
    const limit = parseLimit(request.query.limit);
    const page = await deps.tasks.list({
      keyId: keyIdOf(request),
      limit: limit + 1,
      ...(status === undefined ? {} : { status: status as TaskStatus }),
      ...(after === undefined || after === '' ? {} : { after }),
    });
    const base = publicBase(request, deps);
    const data = await Promise.all(page.slice(0, limit).map((task) => renderTaskForClient(task, deps, base)));
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: page.length > limit };
  });

  app.post<{ Params: { id: string } }>('/v1/images/tasks/:id/cancel', { preHandler: app.authenticate }, async (request, reply) => {
    request.imagegate.endpoint = 'tasks.cancel';
    const base = publicBase(request, deps);
    if (await beginIdempotentRequest(request, reply, deps, { task_id: request.params.id }, base)) return reply;
    const outcome = await deps.tasks.cancel(request.params.id, keyIdOf(request));
    if (outcome.kind === 'not_found') throw notFound(request.params.id);
    if (outcome.kind === 'already_finished' && outcome.task.status !== 'canceled') {
      throw new GatewayError('conflict', `Task ${outcome.task.id} has already ${outcome.task.status}; it can no longer be canceled.`, { param: 'task_id' });
    }
    return renderTaskForClient(outcome.task, deps, base);
  });
}
