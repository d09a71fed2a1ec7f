// Admin API for prices: read the list in effect, set or reset one model's price, set or reset a
// price group. A change is stored and applied at once: the next request pays the new price.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../core/errors.js';
import type { AdminDeps } from './deps.js';

/** The catalog id of a model name (aliases resolve), or 404. */
function catalogId(deps: AdminDeps, name: string): string {
  const resolved = deps.catalog.get(name);
  if (!resolved) throw new GatewayError('model_not_found', `The model '${name}' does not exist in the catalog.`, { param: 'model' });
  return resolved.model.id;
}

/** Price specs are validated by the price book; its RangeError names the bad field. */
async function checked<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof RangeError) throw new GatewayError('invalid_value', error.message);
    throw error;
  }
}

export function registerPriceRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const book = () => deps.prices.book;

  app.get('/prices', async () => ({ object: 'price_list', ...book().describe() }));

  app.get<{ Params: { model: string } }>('/prices/:model', async (request) => {
    const model = catalogId(deps, request.params.model);
    const price = book().modelPrice(model);
    if (!price) throw new GatewayError('not_found', `The model '${model}' has no price set.`, { param: 'model' });
    return { object: 'price', model, price, image_output_tokens: book().outputTokens(model) };
  });

  app.put<{ Params: { model: string } }>('/prices/:model', { config: { audit: 'price.changed' } }, async (request) => {
    const model = catalogId(deps, request.params.model);
    const price = await checked(() => deps.prices.setModelPrice(model, request.body));
    return { object: 'price', model, price, image_output_tokens: book().outputTokens(model) };
  });

  app.delete<{ Params: { model: string } }>('/prices/:model', { config: { audit: 'price.reset' } }, async (request) => {
    const model = catalogId(deps, request.params.model);
    await deps.prices.resetModelPrice(model);
    return { object: 'price', model, price: book().modelPrice(model) ?? null, image_output_tokens: book().outputTokens(model) };
  });

  app.put<{ Params: { name: string } }>('/price-groups/:name', { config: { audit: 'price_group.changed' } }, async (request) => {
    const name = request.params.name;
    if (!/^[\w.-]{1,64}$/.test(name)) throw new GatewayError('invalid_value', 'A price group name is 1-64 letters, digits, dots, dashes or underscores.', { param: 'name' });
    const body = request.body as { models?: Record<string, unknown> } | undefined;
    for (const model of Object.keys(body?.models ?? {})) {
      if (catalogId(deps, model) !== model) throw new GatewayError('invalid_value', `Price group models are catalog ids: use '${catalogId(deps, model)}', not '${model}'.`, { param: 'models' });
    }
    const group = await checked(() => deps.prices.setGroup(name, request.body));
    return { object: 'price_group', name, ...group };
  });

  app.delete<{ Params: { name: string } }>('/price-groups/:name', { config: { audit: 'price_group.removed' } }, async (request) => {
    if (request.params.name === 'default') throw new GatewayError('conflict', "The 'default' group cannot be removed; set its multiplier instead.", { param: 'name' });
    const removed = await deps.prices.resetGroup(request.params.name);
    if (!removed) throw new GatewayError('not_found', `No price group '${request.params.name}' was set through the admin API.`, { param: 'name' });
    return { object: 'price_group', name: request.params.name, deleted: true };
  });
}
