// Retired models on a channel: a catalog model its upstream has shut down is served by the model's
// declared successor (under the channel's own name for it), or refused with a clear error when it
// has none, unless the channel says its upstream still serves the old names (another relay).
// Data-driven: the catalog's `retired` entries say what is shut down where; nothing here names a model.

import type { Catalog } from '../core/catalog/catalog.js';
import type { CatalogModel, Retirement } from '../core/catalog/types.js';
import { GatewayError } from '../core/errors.js';
import type { ChannelRecord } from '../core/ports/channel-store.js';

/** The channel option that keeps retired names going to the upstream as they are. */
export const servesRetiredModelsOption = 'serves_retired_models';

export interface RetiredOnChannel {
  /** Retired catalog id → the successor catalog id that serves it on this channel. */
  successors: Map<string, string>;
  /** Retired catalog ids the channel lists but cannot serve (no successor): answered with a clear error. */
  shutDown: Map<string, Retirement>;
}

/** Reads and checks the channel's `serves_retired_models` option (default false). */
export function servesRetiredModels(record: ChannelRecord): boolean {
  const value = record.options?.[servesRetiredModelsOption];
  if (value === undefined) return false;
  if (typeof value !== 'boolean') {
    throw new GatewayError('invalid_value', `Channel '${record.name}': options.${servesRetiredModelsOption} must be true or false.`, { param: 'options' });
  }
  return value;
}

/**
 * Rewrites `served` (catalog id → upstream name) for the models the channel's provider has shut down:
 * - a retired model the channel serves under its own name goes to its successor's upstream name;
 * - a channel that serves the successor also serves the retired name (out of the box);
 * - a model_map entry naming another upstream model is the operator's choice and is kept;
 * - a retired model without a successor stays listed (so no other engine picks it up) but is refused.
 */
export function applyRetirements(record: ChannelRecord, catalog: Catalog, served: Map<string, string>): RetiredOnChannel {
  const result: RetiredOnChannel = { successors: new Map(), shutDown: new Map() };
  if (servesRetiredModels(record)) return result;
  for (const model of catalog.list()) {
    const retired = model.retired;
    if (retired === undefined || !retired.upstreams.includes(record.provider)) continue;
    const own = served.get(model.id);
    // An explicit model_map to another upstream name: the operator knows what that name serves.
    if (own !== undefined && own !== model.id) continue;
    if (retired.successor === undefined) {
      if (own !== undefined) result.shutDown.set(model.id, retired);
      continue;
    }
    const successorUpstream = served.get(retired.successor) ?? (own === undefined ? undefined : (record.modelMap[retired.successor] ?? retired.successor));
    if (successorUpstream === undefined) continue;
    served.set(model.id, successorUpstream);
    result.successors.set(model.id, retired.successor);
  }
  return result;
}

/** The client's notice that a retired model was served by its successor (the adapter adds each translated parameter). */
export function retirementWarnings(model: CatalogModel, successor: CatalogModel, provider: string, responseFormat: string | undefined): string[] {
  const retired = model.retired;
  const when = retired === undefined ? '' : ` on ${retired.shutdown}`;
  const warnings = [`model: ${model.id} was shut down by ${provider}${when}; served by its successor ${successor.id}`];
  if (responseFormat === 'url' && successor.default_response_format === 'b64_json') {
    warnings.push(`response_format: ${successor.id} returns base64 only; the url points at the image as the gateway hosts it`);
  }
  return warnings;
}

/** The answer for a model its upstream shut down with nothing to serve it: a clear 404, never the upstream's. */
export function shutDownError(model: CatalogModel, retirement: Retirement, channels: readonly string[]): GatewayError {
  return new GatewayError(
    'model_not_found',
    `The model '${model.id}' was shut down by its upstream on ${retirement.shutdown} (${retirement.source}) and has no successor on channel ${channels.join(', ')}. Choose another model, or set options.${servesRetiredModelsOption} on a channel whose upstream still serves it.`,
    { param: 'model' },
  );
}
