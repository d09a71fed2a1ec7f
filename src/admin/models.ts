// GET /admin/v1/models: the catalog as the operator manages it — each model with its limits, its
// price, the names that map to it (aliases such as dall-e-3 → a live model), and the channels that
// would serve it, best first, with the upstream model name each would call.

import type { FastifyInstance } from 'fastify';
import type { CatalogModel } from '../core/catalog/types.js';
import type { AdminDeps } from './deps.js';

/** How a model takes its size: a listed `size`, an `aspect_ratio`, or any size within a rule. */
function sizeKind(model: CatalogModel): 'sizes' | 'aspect_ratios' | 'rule' {
  return 'enum' in model.sizes ? 'sizes' : 'aspect_ratios' in model.sizes ? 'aspect_ratios' : 'rule';
}

function sizesOf(model: CatalogModel): string[] {
  const sizes = model.sizes;
  if ('enum' in sizes) return sizes.enum;
  if ('aspect_ratios' in sizes) return sizes.aspect_ratios;
  return [`any (${sizes.default} by default)`];
}

export function registerModelRoutes(app: FastifyInstance, deps: AdminDeps): void {
  // Key holders see the models their key may use (for the playground), without channels or price groups.
  app.get('/models', { config: { keyHolder: true } }, async (request) => {
    const book = deps.prices.book;
    const aliases = deps.catalog.aliases();
    const principal = request.principal;
    const allowed = principal.role === 'key' ? (await deps.keys.findById(principal.keyId))?.allowedModels ?? null : null;
    const operator = principal.role === 'operator';
    return {
      object: 'list',
      price_groups: operator ? book.describe().groups : {},
      data: deps.catalog.list().filter((model) => allowed === null || allowed.includes(model.id)).map((model) => ({
        id: model.id,
        owned_by: model.owned_by,
        operations: model.operations,
        max_n: model.max_n,
        size_kind: sizeKind(model),
        sizes: sizesOf(model),
        qualities: model.qualities ?? [],
        streaming: model.streaming ?? false,
        prompt_max_length: model.prompt_max_length,
        aliases: aliases.filter((alias) => alias.model.id === model.id).map((alias) => alias.name),
        price: book.modelPrice(model.id) ?? null,
        routes: (operator ? deps.channels.routes(model) : []).map((route) => ({
          channel: route.channel,
          provider: route.provider,
          upstream_model: route.upstreamModel,
          priority: route.priority,
          weight: route.weight,
          circuit: route.circuit,
        })),
      })),
    };
  });
}
