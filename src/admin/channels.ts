// Admin API for channels, through the channel registry: list, get, create, update, test, disable,
// enable, remove, and the routes a model would take. The registry validates and applies each change.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { AdminDeps } from './deps.js';
import { objectBody, optionalBoolean, optionalString } from './fields.js';

export function registerChannelRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const registry = deps.channels;

  app.get('/channels', async () => ({ object: 'list', data: registry.list() }));

  app.get<{ Params: { name: string } }>('/channels/:name', async (request) => {
    const channel = registry.get(request.params.name);
    if (!channel) throw new GatewayError('not_found', `No channel named '${request.params.name}'.`, { param: 'name' });
    return channel;
  });

  app.post('/channels', { config: { audit: 'channel.created' } }, async (request, reply) => reply.code(201).send(await registry.create(request.body)));

  app.patch<{ Params: { name: string } }>('/channels/:name', { config: { audit: 'channel.changed' } }, async (request) => registry.update(request.params.name, request.body));

  app.post<{ Params: { name: string } }>('/channels/:name/test', { config: { audit: 'channel.tested' } }, async (request) => {
    const body = objectBody(request.body, ['model', 'include_image']);
    const includeImage = optionalBoolean(body, 'include_image') ?? false;
    const { image, ...result } = await registry.test(request.params.name, optionalString(body, 'model'));
    request.auditDetail = { result: result.ok ? 'ok' : result.error.code, latency_ms: result.latency_ms };
    // The image only when asked for (the console shows it); the CLI's answer stays small.
    return includeImage && image !== undefined ? { ...result, image_data_url: `data:image/${result.ok ? result.format : 'png'};base64,${image.toString('base64')}` } : result;
  });

  app.post<{ Params: { name: string } }>('/channels/:name/disable', { config: { audit: 'channel.disabled' } }, async (request) => {
    const body = objectBody(request.body, ['reason']);
    return registry.disable(request.params.name, optionalString(body, 'reason') ?? 'admin');
  });

  app.post<{ Params: { name: string } }>('/channels/:name/enable', { config: { audit: 'channel.enabled' } }, async (request) => registry.enable(request.params.name));

  app.delete<{ Params: { name: string } }>('/channels/:name', { config: { audit: 'channel.removed' } }, async (request, reply) => {
    await registry.remove(request.params.name);
    return reply.code(204).send();
  });

  /** Which channels would serve a model, best first. */
  app.get<{ Params: { model: string } }>('/models/:model/routes', async (request) => {
    const resolved = deps.catalog.get(request.params.model);
    if (!resolved) throw new GatewayError('model_not_found', `The model '${request.params.model}' does not exist.`, { param: 'model' });
    return { object: 'list', model: resolved.model.id, data: registry.routes(resolved.model) };
  });
}
