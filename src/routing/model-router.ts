// Decides which channel serves each catalog model: configured channels first (highest priority,
// then weight), the built-in offline engine for every model no channel serves.

import { GatewayError } from '../core/errors.js';
import type { Catalog } from '../core/catalog/catalog.js';
import type { CatalogModel } from '../core/catalog/types.js';
import type { ModelRoute, ModelRouter } from '../core/generate-images.js';
import type { ImageModel, ImageModelFactory } from '../core/ports/image-model.js';

export interface ChannelDefinition {
  name: string;
  provider: string;
  models: string[];
  /** Catalog name → upstream model name. */
  modelMap: Record<string, string>;
  priority: number;
  weight: number;
  enabled: boolean;
  factory: ImageModelFactory;
}

export interface ChannelRoutes extends ModelRouter {
  /** Every route for a model, best first (failover order). */
  routes(model: CatalogModel): ModelRoute[];
  describe(modelId: string): { provider: string; channel: string };
}

export function createModelRouter(options: { catalog: Catalog; channels: ChannelDefinition[]; offline: ImageModelFactory | undefined }): ChannelRoutes {
  const byModel = new Map<string, ModelRoute[]>();
  const modelCache = new Map<string, ImageModel>();
  const imageModelFor = (channel: ChannelDefinition, upstreamModel: string): ImageModel => {
    const cacheKey = `${channel.name}\u0000${upstreamModel}`;
    let model = modelCache.get(cacheKey);
    if (!model) {
      model = channel.factory(upstreamModel);
      modelCache.set(cacheKey, model);
    }
    return model;
  };

  const ordered = [...options.channels].filter((c) => c.enabled).sort((a, b) => b.priority - a.priority || b.weight - a.weight);
  for (const channel of ordered) {
    for (const name of channel.models) {
      const resolved = options.catalog.get(name);
      if (!resolved) throw new Error(`channel '${channel.name}' lists model '${name}', which is not in the catalog`);
      const upstreamModel = channel.modelMap[resolved.model.id] ?? channel.modelMap[name] ?? resolved.model.id;
      const list = byModel.get(resolved.model.id) ?? [];
      list.push({ imageModel: imageModelFor(channel, upstreamModel), channel: channel.name, provider: channel.provider });
      byModel.set(resolved.model.id, list);
    }
  }
  if (options.offline) {
    for (const model of options.catalog.list()) {
      if (!byModel.has(model.id)) {
        byModel.set(model.id, [{ imageModel: options.offline(model.id), channel: 'offline', provider: 'offline' }]);
      }
    }
  }

  const routes = (model: CatalogModel): ModelRoute[] => byModel.get(model.id) ?? [];
  return {
    routes,
    route(model) {
      const first = routes(model)[0];
      if (!first) throw new GatewayError('service_unavailable', `No channel is configured to serve ${model.id}.`);
      return first;
    },
    describe(modelId) {
      const first = byModel.get(modelId)?.[0];
      return first ? { provider: first.provider, channel: first.channel } : { provider: 'none', channel: 'none' };
    },
  };
}
