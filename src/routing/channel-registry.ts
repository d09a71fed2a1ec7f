// The channels the gateway routes to: seeded from the config file, managed at run time through the
// store, and kept compiled in memory (provider per key, breaker, concurrency limit) so a change
// applies to the next request without a restart. Also the router the image use case calls.

import { performance } from 'node:perf_hooks';
import { ConfigError } from '../config/load.js';
import type { ChannelConfig, RoutingConfig } from '../config/schema.js';
import type { Catalog } from '../core/catalog/catalog.js';
import type { CatalogModel } from '../core/catalog/types.js';
import { GatewayError, isGatewayError } from '../core/errors.js';
import type { ChannelRecord, ChannelStore } from '../core/ports/channel-store.js';
import type { Clock } from '../core/ports/clock.js';
import type { HttpClient } from '../core/ports/http-client.js';
import type { ImageModel, ImageModelFactory, ImageOperation } from '../core/ports/image-model.js';
import type { ModelRoute, ModelRouter, RouteAttempt, RoutedResult, RouteRequest } from '../core/ports/model-router.js';
import { orderCandidates, type RandomSource } from './channel-order.js';
import {
  applyPatch,
  checkChannelInput,
  checkChannelPatch,
  recordFromInput,
  viewOf,
  type ChannelHealth,
  type ChannelInput,
  type ChannelPatch,
  type ChannelView,
} from './channel-definition.js';
import { runChannelTest, type ChannelTestResult } from './channel-test.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ConcurrencyLimiter } from './concurrency-limiter.js';
import { sharedConcurrency } from './shared-concurrency.js';
import type { SlotPool } from '../core/ports/slot-pool.js';
import { runWithFailover, type FailoverTarget } from './failover.js';
import { KeyRotation } from './key-rotation.js';
import { applyRetirements, retirementWarnings, shutDownError, type RetiredOnChannel } from './retired-models.js';

/** Where routing events go; pino's logger fits. Never handed a key. */
export interface RoutingLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface ChannelRegistryOptions {
  store: ChannelStore;
  catalog: Catalog;
  clock: Clock;
  logger: RoutingLogger;
  routing: RoutingConfig;
  /** Builds a channel's provider for one of its keys (`''` when it has none); throws on bad settings. */
  buildProvider(channel: ChannelRecord, apiKey: string): ImageModelFactory;
  /**
   * The embedded default (the offline engine): serves every catalog model while the gateway has no
   * channel at all, so a first start needs no key. Once any channel exists, a model is served only by
   * the channels that list it (an `offline` channel included); the rest answer `model_not_available`.
   */
  fallback?: ImageModelFactory;
  /** Channels from the config file, written to the store at start. */
  seed?: ChannelConfig[];
  /** Draws among channels of equal priority; tests pass a seeded one. */
  random?: RandomSource;
  /** Downloads result URLs when a channel is tested. */
  http: HttpClient;
  /** Queue length of channels that set none. */
  defaultMaxQueue?: number;
  /** Concurrency slots shared with the other replicas (Redis); each process caps its own calls when absent. */
  sharedSlots?: SlotPool;
}

/** A candidate channel for a model, in preference order, as the admin API shows it. */
export interface RouteCandidate {
  channel: string;
  provider: string;
  upstreamModel: string;
  priority: number;
  weight: number;
  circuit: ChannelHealth['circuit'];
}

export interface ChannelRegistry extends ModelRouter {
  list(): ChannelView[];
  get(name: string): ChannelView | undefined;
  create(input: unknown): Promise<ChannelView>;
  update(name: string, patch: unknown): Promise<ChannelView>;
  disable(name: string, reason?: string): Promise<ChannelView>;
  enable(name: string): Promise<ChannelView>;
  /** Deletes a channel created at run time; config channels are disabled instead. */
  remove(name: string): Promise<void>;
  /** One small real generation through the channel (enabled or not), bypassing its breaker. */
  test(name: string, model?: string): Promise<ChannelTestResult>;
  /** Enabled channels serving a catalog model, most preferred first (before the weighted draw). */
  routes(model: CatalogModel): RouteCandidate[];
  /** Whether a URL's host is a channel's base URL host (operator-trusted, even on a private network). */
  isChannelHost(url: URL): boolean;
  /**
   * Reads the store again and applies what another process changed (created, edited, enabled,
   * disabled, removed). Unchanged channels keep their breaker, key rotation and in-flight slots.
   */
  reload(): Promise<void>;
}

interface KeySlot {
  factory: ImageModelFactory;
  models: Map<string, ImageModel>;
}

/** A channel compiled for routing. Replaced whole when the channel changes. */
interface LiveChannel {
  record: ChannelRecord;
  /** Catalog model id → upstream model name (retired models: their successor's). */
  served: Map<string, string>;
  /** Models the channel's upstream has shut down: served by a successor, or refused. */
  retired: RetiredOnChannel;
  /** host[:port] of the base URL, lower case; undefined for the provider's default. */
  host: string | undefined;
  keys: KeySlot[];
  rotation: KeyRotation;
  breaker: CircuitBreaker;
  limiter: ConcurrencyLimiter;
}

const defaultMaxQueue = 100;

export async function createChannelRegistry(options: ChannelRegistryOptions): Promise<ChannelRegistry> {
  const { store, catalog, clock, logger } = options;
  const random = options.random ?? Math.random;
  const queueDefault = options.defaultMaxQueue ?? defaultMaxQueue;
  const channels = new Map<string, LiveChannel>();
  const fallbackModels = new Map<string, ImageModel>();
  /** Admin changes run one at a time, so a store write and its compile never interleave with another. */
  let changes: Promise<unknown> = Promise.resolve();
  const serialized = <T>(change: () => Promise<T>): Promise<T> => {
    const result = changes.then(change);
    changes = result.catch(() => undefined);
    return result;
  };

  /** Resolves the channel's models against the catalog. `strict`: an unknown model is an error. */
  function servedModels(record: ChannelRecord, strict: boolean): Map<string, string> {
    const served = new Map<string, string>();
    for (const name of record.models) {
      const resolved = catalog.get(name);
      if (resolved === undefined) {
        if (strict) throw new GatewayError('invalid_value', `Channel '${record.name}' lists model '${name}', which is not in the catalog.`, { param: 'models' });
        logger.error({ event: 'channel_model_unknown', channel: record.name, model: name }, 'channel lists a model the catalog does not have; ignored');
        continue;
      }
      const id = resolved.model.id;
      served.set(id, record.modelMap[id] ?? record.modelMap[name] ?? id);
    }
    for (const mapped of Object.keys(record.modelMap)) {
      const resolved = catalog.get(mapped);
      if (strict && (resolved === undefined || !served.has(resolved.model.id))) {
        throw new GatewayError('invalid_value', `Channel '${record.name}' maps model '${mapped}', which it does not list in 'models'.`, { param: 'model_map' });
      }
    }
    return served;
  }

  /** Builds everything a channel routes with; provider setting errors surface here, not on a request. */
  function compile(record: ChannelRecord, strict: boolean, previous?: LiveChannel): LiveChannel {
    const served = servedModels(record, strict);
    const retired = applyRetirements(record, catalog, served);
    const keyTexts = record.apiKeys.length === 0 ? [''] : record.apiKeys;
    let keys: KeySlot[];
    try {
      keys = keyTexts.map((apiKey) => ({ factory: options.buildProvider(record, apiKey), models: new Map() }));
      // Building each model once checks names and options the provider validates (e.g. BFL model names).
      for (const upstream of new Set(served.values())) keys[0]?.factory(upstream);
    } catch (error) {
      if (isGatewayError(error) && error.code === 'invalid_value') throw error;
      const reason = error instanceof Error ? error.message : String(error);
      throw new GatewayError('invalid_value', `Channel '${record.name}' cannot be built: ${reason}`, { param: 'options', cause: error });
    }
    const limits = { maxConcurrency: record.maxConcurrency ?? undefined, maxQueue: record.maxQueue ?? queueDefault };
    // In-flight requests keep their slots across a change: the limiter lives on, resized.
    const limiter = previous?.limiter ?? new ConcurrencyLimiter(limits);
    if (previous !== undefined) limiter.resize(limits);
    const breaker = new CircuitBreaker({
      failureThreshold: options.routing.breakerFailureThreshold,
      cooldownMs: options.routing.breakerCooldownMs,
      clock,
      onStateChange: (state, from) => logger.warn({ event: 'channel_circuit', channel: record.name, state, from }, `channel circuit ${state}`),
    });
    const host = record.baseUrl === null ? undefined : new URL(record.baseUrl).host.toLowerCase();
    return { record, served, retired, host, keys, rotation: new KeyRotation(record.apiKeys.length), breaker, limiter };
  }

  function imageModelFor(live: LiveChannel, keyPosition: number, upstream: string): ImageModel {
    const slot = live.keys[keyPosition] ?? live.keys[0];
    if (slot === undefined) throw new GatewayError('server_error', `Channel '${live.record.name}' has no provider.`);
    let model = slot.models.get(upstream);
    if (model === undefined) {
      model = slot.factory(upstream);
      slot.models.set(upstream, model);
    }
    return model;
  }

  function health(live: LiveChannel): ChannelHealth {
    const breaker = live.breaker.snapshot();
    const load = live.limiter.stats();
    return {
      circuit: breaker.state,
      consecutive_failures: breaker.consecutiveFailures,
      retry_at: breaker.retryAt === undefined ? null : Math.ceil(breaker.retryAt / 1000),
      in_flight: load.inFlight,
      queued: load.queued,
      rejected_keys: live.rotation.rejected(),
      out_of_funds_keys: live.rotation.outOfFunds(),
    };
  }

  const view = (live: LiveChannel): ChannelView => viewOf(live.record, health(live));

  function liveChannel(name: string): LiveChannel {
    const live = channels.get(name);
    if (live === undefined) throw new GatewayError('not_found', `No channel named '${name}'.`, { param: 'name' });
    return live;
  }

  /** Whether any channel (enabled or not) lists the model, by its catalog id or through a model_map. */
  const listedAnywhere = (modelId: string): boolean => [...channels.values()].some((live) => live.served.has(modelId));

  /** Enabled channels that can serve the model (a model their upstream shut down without a successor is not served). */
  const enabledServing = (modelId: string): LiveChannel[] =>
    [...channels.values()].filter((live) => live.record.enabled && live.served.has(modelId) && !live.retired.shutDown.has(modelId));

  /** The offline engine stands in for every model only on a gateway with no channels at all. */
  const fallbackServes = (modelId: string): boolean => options.fallback !== undefined && channels.size === 0 && !listedAnywhere(modelId);

  const notAvailable = (modelId: string): GatewayError =>
    new GatewayError('model_not_available', `The model '${modelId}' is not available on this gateway: no channel serves it.`, { param: 'model' });

  const preferenceOrder = (candidates: LiveChannel[]): LiveChannel[] =>
    [...candidates].sort(
      (left, right) =>
        right.record.priority - left.record.priority || right.record.weight - left.record.weight || (left.record.name < right.record.name ? -1 : 1),
    );

  async function setEnabled(name: string, enabled: boolean, reason: string | null): Promise<ChannelView> {
    const live = liveChannel(name);
    const now = clock.now();
    const record: ChannelRecord = { ...live.record, enabled, disabledReason: enabled ? null : reason, updatedAt: now };
    // Enabling starts afresh (keys retried, circuit closed); disabling keeps the state for inspection.
    const next = enabled ? compile(record, false, live) : { ...live, record };
    if (!(await store.setEnabled(name, enabled, reason, now))) throw new GatewayError('not_found', `No channel named '${name}'.`, { param: 'name' });
    channels.set(name, next);
    return view(next);
  }

  /**
   * An upstream rejected a key, or said its account is out of credit: skip the key; with none left,
   * disable the channel with the reason (`upstream_auth_failed` or `upstream_out_of_funds`), which
   * the admin API shows and which is kept in the store, so every process sees it.
   */
  async function rejectKey(live: LiveChannel, keyPosition: number, error: GatewayError): Promise<boolean> {
    const name = live.record.name;
    const outOfFunds = error.code === 'upstream_out_of_funds';
    const keysLeft = live.rotation.reject(keyPosition, outOfFunds ? 'funds' : 'credentials');
    // A channel changed meanwhile has other keys: this verdict is about the old ones.
    if (channels.get(name) !== live) return false;
    if (keysLeft) {
      logger.warn(
        { event: outOfFunds ? 'channel_key_out_of_funds' : 'channel_key_rejected', channel: name, keys_usable: live.rotation.usable() },
        outOfFunds ? "the upstream account of one of the channel keys is out of credit; skipping it" : 'upstream rejected one of the channel keys; skipping it',
      );
      return true;
    }
    const reason = outOfFunds ? 'upstream_out_of_funds' : 'upstream_auth_failed';
    logger.warn(
      { event: 'channel_disabled', channel: name, reason },
      outOfFunds ? 'channel disabled: its upstream account is out of credit (top it up, then enable the channel)' : 'channel disabled: the upstream rejected its credentials',
    );
    await serialized(async () => {
      if (channels.get(name) === live) await setEnabled(name, false, reason);
    }).catch((failure: unknown) => logger.error({ err: failure, channel: name }, 'could not record the disabled channel'));
    return false;
  }

  /** Tells the client when a model_map, or a retirement, served the catalog model with another upstream model. */
  function mappingWarnings(live: LiveChannel, model: CatalogModel, upstream: string, responseFormat: string | undefined): string[] {
    const successorId = live.retired.successors.get(model.id);
    const successor = successorId === undefined ? undefined : catalog.get(successorId)?.model;
    if (successor !== undefined) return retirementWarnings(model, successor, live.record.provider, responseFormat);
    return upstream === model.id ? [] : [`model: ${model.id} was served by the upstream model '${upstream}'`];
  }

  function targetFor(live: LiveChannel, model: CatalogModel, responseFormat: string | undefined): FailoverTarget {
    const upstream = live.served.get(model.id) ?? model.id;
    const warnings = mappingWarnings(live, model, upstream, responseFormat);
    const sharedSlots = options.sharedSlots;
    return {
      channel: live.record.name,
      breaker: live.breaker,
      limiter:
        sharedSlots === undefined
          ? live.limiter
          : sharedConcurrency({
              local: live.limiter,
              pool: sharedSlots,
              name: `channel:${live.record.name}`,
              maxConcurrency: () => channels.get(live.record.name)?.record.maxConcurrency ?? undefined,
              onPoolError: (error) => logger.warn({ event: 'shared_slots_unavailable', channel: live.record.name, err: error }, 'shared concurrency slots unavailable; this replica caps its own calls'),
            }),
      nextRoute: () => {
        const keyPosition = live.rotation.next();
        if (keyPosition === undefined) return undefined;
        const route: ModelRoute = { imageModel: imageModelFor(live, keyPosition, upstream), channel: live.record.name, provider: live.record.provider, key: keyPosition };
        return { route, keyPosition, warnings };
      },
      rejectKey: (keyPosition, error) => rejectKey(live, keyPosition, error),
    };
  }

  /**
   * Continues a job the channel accepted before (a restart): on that channel and key only, enabled
   * or not, past its breaker and without a concurrency slot, since the job is running and paid for.
   */
  async function resumeOn<T>(model: CatalogModel, resume: { channel: string; key?: number }, attempt: RouteAttempt<T>): Promise<RoutedResult<T>> {
    const live = channels.get(resume.channel);
    const upstream = live?.served.get(model.id);
    if (live === undefined || upstream === undefined) {
      throw new GatewayError('upstream_error', `The channel '${resume.channel}' that accepted this job no longer serves ${model.id}; the job is not submitted elsewhere.`, {
        retryable: false,
      });
    }
    const key = resume.key !== undefined && resume.key < live.keys.length ? resume.key : 0;
    const route: ModelRoute = { imageModel: imageModelFor(live, key, upstream), channel: live.record.name, provider: live.record.provider, key };
    const value = await attempt(route, { markAccepted: () => undefined });
    return { value, route, attempts: 1, warnings: mappingWarnings(live, model, upstream, undefined) };
  }

  function fallbackRoute(model: CatalogModel): ModelRoute | undefined {
    if (options.fallback === undefined) return undefined;
    let imageModel = fallbackModels.get(model.id);
    if (imageModel === undefined) {
      imageModel = options.fallback(model.id);
      fallbackModels.set(model.id, imageModel);
    }
    return { imageModel, channel: 'offline', provider: 'offline' };
  }

  const supports = (imageModel: ImageModel, operation: ImageOperation): boolean => typeof imageModel[operation] === 'function';

  // Start: the config file's channels go to the store (an unchanged definition keeps run-time edits),
  // then everything stored is compiled.
  await seedFromConfig(options.seed ?? []);
  for (const record of await store.list()) {
    try {
      channels.set(record.name, compile(record, false));
    } catch (error) {
      // A stored channel that no longer builds must not stop the gateway; the operator sees why.
      logger.error({ event: 'channel_invalid', channel: record.name, reason: error instanceof Error ? error.message : String(error) }, 'channel skipped');
    }
  }

  async function seedFromConfig(seed: ChannelConfig[]): Promise<void> {
    const names = new Set<string>();
    const now = clock.now();
    for (const [index, input] of seed.entries()) {
      let record: ChannelRecord;
      try {
        const checked = checkChannelInput(input);
        if (names.has(checked.name)) throw new Error(`the name '${checked.name}' is used twice`);
        names.add(checked.name);
        record = recordFromInput(checked, 'config', now);
        compile(record, true);
      } catch (error) {
        // A broken channel in the file stops the start (exit 2), naming the channel and the problem.
        throw new ConfigError(`configuration: channels[${index}] (${input.name}): ${error instanceof Error ? error.message : String(error)}`);
      }
      const existing = await store.get(record.name);
      if (existing === undefined) await store.insert(record);
      else if (existing.source !== 'config' || existing.configHash !== record.configHash) {
        // The file changed (or now claims a run-time channel's name): the file wins.
        await store.replace({ ...record, createdAt: existing.createdAt });
        logger.info({ event: 'channel_seeded', channel: record.name }, 'channel updated from the config file');
      }
    }
    for (const stored of await store.list()) {
      if (stored.source === 'config' && !names.has(stored.name)) {
        await store.remove(stored.name);
        logger.info({ event: 'channel_removed', channel: stored.name }, 'channel no longer in the config file; removed');
      }
    }
  }

  const registry: ChannelRegistry = {
    async run<T>(model: CatalogModel, request: RouteRequest, attempt: RouteAttempt<T>): Promise<RoutedResult<T>> {
      if (request.resume !== undefined && request.resume.channel !== 'offline') return resumeOn(model, request.resume, attempt);
      const serving = enabledServing(model.id);
      if (serving.length === 0) {
        const shutDownOn = [...channels.values()].filter((live) => live.record.enabled && live.retired.shutDown.has(model.id));
        const retirement = shutDownOn[0]?.retired.shutDown.get(model.id);
        if (retirement !== undefined) throw shutDownError(model, retirement, shutDownOn.map((live) => live.record.name));
        if (!listedAnywhere(model.id) && !fallbackServes(model.id)) throw notAvailable(model.id);
        const fallback = fallbackServes(model.id) ? fallbackRoute(model) : undefined;
        if (fallback === undefined) throw new GatewayError('service_unavailable', `No enabled channel serves ${model.id}.`);
        if (!supports(fallback.imageModel, request.operation)) {
          throw new GatewayError('invalid_value', `${model.id} cannot do ${request.operation} on channel offline.`, { param: 'model' });
        }
        const value = await attempt(fallback, { markAccepted: () => undefined });
        return { value, route: fallback, attempts: 1, warnings: [] };
      }
      const capable = serving.filter((live) => supports(imageModelFor(live, 0, live.served.get(model.id) ?? model.id), request.operation));
      if (capable.length === 0) {
        const names = serving.map((live) => live.record.name).join(', ');
        throw new GatewayError('invalid_value', `${model.id} cannot do ${request.operation} on channel ${names}.`, { param: 'model' });
      }
      const ordered = orderCandidates(
        capable.map((live) => ({ live, priority: live.record.priority, weight: live.record.weight })),
        random,
      );
      return runWithFailover(
        ordered.map(({ live }) => targetFor(live, model, request.responseFormat)),
        {
          maxAttempts: options.routing.maxAttempts,
          signal: request.signal,
          permitsFor: (route) => Math.ceil(request.images / Math.max(1, route.imageModel.maxImagesPerCall)),
          onFailover: ({ channel, error, attempt: number }) =>
            logger.warn({ event: 'channel_failover', channel, model: model.id, code: error.code, attempt: number }, 'channel attempt failed; trying the next one if any is left'),
        },
        attempt,
      );
    },

    describe(modelId) {
      const first = preferenceOrder(enabledServing(modelId))[0];
      if (first !== undefined) {
        const servedAs = first.retired.successors.get(modelId);
        const described: ReturnType<ModelRouter['describe']> = { provider: first.record.provider, channel: first.record.name, routed: true };
        if (servedAs !== undefined) described.servedAs = servedAs;
        if (first.record.maxConcurrency !== null) described.maxConcurrency = first.record.maxConcurrency;
        return described;
      }
      if (fallbackServes(modelId)) return { provider: 'offline', channel: 'offline', routed: true };
      return { provider: 'none', channel: 'none', routed: listedAnywhere(modelId) };
    },

    routes(model) {
      return preferenceOrder(enabledServing(model.id)).map((live) => ({
        channel: live.record.name,
        provider: live.record.provider,
        upstreamModel: live.served.get(model.id) ?? model.id,
        priority: live.record.priority,
        weight: live.record.weight,
        circuit: live.breaker.snapshot().state,
      }));
    },

    list: () => [...channels.values()].sort((left, right) => (left.record.name < right.record.name ? -1 : 1)).map(view),

    get(name) {
      const live = channels.get(name);
      return live === undefined ? undefined : view(live);
    },

    create: (input) =>
      serialized(async () => {
        const checked = checkChannelInput(input);
        const record = recordFromInput(checked, 'admin', clock.now());
        const live = compile(record, true);
        if (channels.has(record.name) || !(await store.insert(record))) {
          throw new GatewayError('conflict', `A channel named '${record.name}' already exists.`, { param: 'name' });
        }
        channels.set(record.name, live);
        logger.info({ event: 'channel_created', channel: record.name, provider: record.provider }, 'channel created');
        return view(live);
      }),

    update: (name, patch) =>
      serialized(async () => {
        const live = liveChannel(name);
        const checked: ChannelPatch = checkChannelPatch(patch);
        const record = applyPatch(live.record, checked, clock.now());
        const next = compile(record, true, live);
        if (!(await store.replace(record))) throw new GatewayError('not_found', `No channel named '${name}'.`, { param: 'name' });
        channels.set(name, next);
        logger.info({ event: 'channel_updated', channel: name, fields: Object.keys(checked) }, 'channel updated');
        return view(next);
      }),

    disable: (name, reason = 'admin') =>
      serialized(async () => {
        const result = await setEnabled(name, false, reason);
        logger.info({ event: 'channel_disabled', channel: name, reason }, 'channel disabled');
        return result;
      }),

    enable: (name) =>
      serialized(async () => {
        const result = await setEnabled(name, true, null);
        logger.info({ event: 'channel_enabled', channel: name }, 'channel enabled');
        return result;
      }),

    remove: (name) =>
      serialized(async () => {
        const live = liveChannel(name);
        if (live.record.source === 'config') {
          throw new GatewayError('conflict', `Channel '${name}' comes from the config file; disable it, or remove it from the file.`, { param: 'name' });
        }
        await store.remove(name);
        channels.delete(name);
        logger.info({ event: 'channel_removed', channel: name }, 'channel removed');
      }),

    async test(name, modelName) {
      const live = liveChannel(name);
      const requested = modelName ?? live.record.models[0] ?? '';
      const resolved = catalog.get(requested);
      const upstream = resolved === undefined ? undefined : live.served.get(resolved.model.id);
      if (resolved === undefined || upstream === undefined) {
        throw new GatewayError('invalid_value', `Channel '${name}' does not serve the model '${requested}'.`, { param: 'model' });
      }
      // Rejected keys are tested too once every key is: that is how an operator checks a fixed key.
      const keyPosition = live.rotation.next() ?? 0;
      const imageModel = imageModelFor(live, keyPosition, upstream);
      const started = performance.now();
      const result = await runChannelTest({
        catalog,
        model: resolved.model,
        imageModel,
        limiter: live.limiter,
        http: options.http,
        timeoutMs: live.record.timeoutMs ?? undefined,
        started,
        channel: name,
      });
      // Every test is on the record, a failed one as a warning naming what went wrong.
      const details = { event: 'channel_test', channel: name, model: result.model, upstream_model: result.upstream_model, ok: result.ok, latency_ms: result.latency_ms };
      if (result.ok) logger.info(details, 'channel test passed');
      else logger.warn({ ...details, code: result.error.code, error: result.error.message }, 'channel test failed');
      return result;
    },

    isChannelHost(url) {
      const host = url.host.toLowerCase();
      for (const live of channels.values()) if (live.host === host) return true;
      return false;
    },

    reload: () =>
      serialized(async () => {
        const stored = await store.list();
        for (const record of stored) {
          const live = channels.get(record.name);
          if (live !== undefined && canonicalJson(live.record) === canonicalJson(record)) continue;
          try {
            channels.set(record.name, compile(record, false, live));
            logger.info({ event: 'channel_reloaded', channel: record.name, enabled: record.enabled }, 'channel changed by another process; applied');
          } catch (error) {
            logger.error({ event: 'channel_invalid', channel: record.name, reason: error instanceof Error ? error.message : String(error) }, 'channel skipped');
          }
        }
        const names = new Set(stored.map((record) => record.name));
        for (const name of [...channels.keys()]) {
          if (names.has(name)) continue;
          channels.delete(name);
          logger.info({ event: 'channel_reloaded', channel: name, removed: true }, 'channel removed by another process');
        }
      }),
  };
  return registry;
}

export type { ChannelInput, ChannelPatch, ChannelView, ChannelHealth, ChannelTestResult };

/** JSON with object keys sorted, so a record read back from the store compares equal to the one in memory. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item as Record<string, unknown>).sort(([left], [right]) => (left < right ? -1 : left > right ? 1 : 0)))
      : item,
  );
}
