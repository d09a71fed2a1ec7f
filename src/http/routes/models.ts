// GET /v1/models and /v1/models/{id}: the catalog, with each model's capabilities under `imagegate`.

import type { FastifyInstance } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import type { CatalogModel } from '../../core/catalog/types.js';
import { isModelAllowed } from '../../core/key-policy.js';
import { acceptedAspectRatios } from '../../core/sizes.js';
import type { HttpDeps } from '../deps.js';

/** Models carry no real creation date in the catalog; a fixed one keeps responses stable. */
const catalogEpoch = 1_700_000_000;

/** `name` is the alias a client asked for, when it is not the model's own id. */
export function describeModel(model: CatalogModel, route: { provider: string; channel: string; servedAs?: string }, name: string = model.id) {
  return {
    id: name,
    object: 'model' as const,
    created: catalogEpoch,
    owned_by: model.owned_by,
    imagegate: {
      alias_of: name === model.id ? null : model.id,
      provider: route.provider,
      channel: route.channel,
      endpoints: model.operations,
      prompt_max_length: model.prompt_max_length,
      max_n: model.max_n,
      sizes: model.sizes,
      aspect_ratios: acceptedAspectRatios(model),
      qualities: model.qualities ?? null,
      styles: model.styles ?? null,
      backgrounds: model.backgrounds,
      output_formats: model.output_formats,
      default_response_format: model.default_response_format,
      edit: model.edit ?? null,
      // A model its upstream shut down: when and where, and the successor the first channel serves it with.
      retired: model.retired ?? null,
      served_as: route.servedAs ?? null,
    },
  };
}

export function registerModelsRoutes(app: FastifyInstance, deps: HttpDeps): void {
  // Only what this key can use: a model some channel routes (or every model, on a gateway whose only
  // engine is the offline default), and that the key's allowed_models permit.
  app.get('/v1/models', { preHandler: app.authenticate }, async (request) => {
    const key = request.imagegate.key;
    const usable = (model: CatalogModel, name: string = model.id) => deps.describeRoute(model.id).routed && isModelAllowed(key, model.id, name);
    return {
      object: 'list',
      data: [
        ...deps.catalog.list().filter((model) => usable(model)).map((model) => describeModel(model, deps.describeRoute(model.id))),
        // Aliases are names clients may call, so they are listed too, with the capabilities of the model behind them.
        ...deps.catalog
          .aliases()
          .filter((alias) => usable(alias.model, alias.name))
          .map((alias) => describeModel(alias.model, deps.describeRoute(alias.model.id), alias.name)),
      ],
    };
  });
  app.get<{ Params: { id: string } }>('/v1/models/:id', { preHandler: app.authenticate }, async (request) => {
    const resolved = deps.catalog.get(request.params.id);
    const usable = resolved !== undefined && deps.describeRoute(resolved.model.id).routed && isModelAllowed(request.imagegate.key, resolved.model.id, resolved.requestedName);
    if (!resolved || !usable) {
      throw new GatewayError('model_not_found', `The model '${request.params.id}' does not exist or you do not have access to it.`, { param: 'model' });
    }
    return describeModel(resolved.model, deps.describeRoute(resolved.model.id), resolved.requestedName);
  });
}
