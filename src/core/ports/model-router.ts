// The routing port: how the image use case reaches a model's channels, with failover decided by
// the router and the upstream calls made by the use case.

import type { CatalogModel } from '../catalog/types.js';
import type { ImageModel, ImageOperation } from './image-model.js';

/** Where one attempt goes: the provider's model and the channel it belongs to. */
export interface ModelRoute {
  imageModel: ImageModel;
  channel: string;
  provider: string;
  /** Position of the channel's upstream key this route uses, so a job it accepted is resumed with the same account. */
  key?: number;
}

export interface RouteAttemptControl {
  /**
   * Called when an upstream has accepted a job (onUpstreamJob): from then on the request is never
   * sent to another channel, since that would submit (and pay for) a second job.
   */
  markAccepted(): void;
}

export interface RouteRequest {
  operation: ImageOperation;
  /** Images wanted: the router holds one concurrency slot per upstream call the route will make. */
  images: number;
  signal: AbortSignal;
  /** Resuming a job: only the channel (and key) that accepted it, without failover or breaker. */
  resume?: { channel: string; key?: number };
  /** What the client asked the image back as, for the notices of a retired model served by its successor. */
  responseFormat?: string;
}

export interface RoutedResult<T> {
  value: T;
  /** The route that answered. */
  route: ModelRoute;
  /** Upstream attempts made, the successful one included. */
  attempts: number;
  /** Notices for the client, e.g. that the channel serves the model with another upstream model. */
  warnings: string[];
}

/** Runs one attempt of a request on a route; resolves when it delivered, throws when it failed. */
export type RouteAttempt<T> = (route: ModelRoute, control: RouteAttemptControl) => Promise<T>;

export interface ModelRouter {
  /**
   * Runs `attempt` on the model's channels in routing order until one succeeds. A retryable failure
   * moves on to the next channel while no upstream has accepted the job; anything else is thrown.
   */
  run<T>(model: CatalogModel, request: RouteRequest, attempt: RouteAttempt<T>): Promise<RoutedResult<T>>;
  /**
   * The channel that would be tried first, for headers and /v1/models. `servedAs`: the catalog model
   * that channel serves the request with, when it is not `modelId` (a retired model's successor);
   * requests are priced as that model. `routed` is false when no channel lists the model (a request
   * answers `model_not_available`); a model whose channels are all disabled is routed, and answers
   * 503 until one is enabled. `maxConcurrency`: that channel's max_concurrency, when it has one.
   */
  describe(modelId: string): { provider: string; channel: string; routed: boolean; servedAs?: string; maxConcurrency?: number };
}
