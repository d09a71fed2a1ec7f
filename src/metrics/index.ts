// Prometheus metrics at /metrics (prom-client), for the operator's Prometheus and Grafana: HTTP
// latency, requests by endpoint/model/status, images delivered, upstream latency and errors by
// channel, breaker state, queue depth, task outcomes and billing totals.
//
// Counters are this process's (each replica is scraped on its own, Prometheus sums them); gauges of
// shared state (tasks by status, billing totals) are read from the database at scrape time, so every
// replica reports the same truth. One registry per gateway: tests run several in one process.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { GatewayError, isGatewayError } from '../core/errors.js';
import type { Insights } from '../core/ports/insights.js';
import type { ModelRouter } from '../core/ports/model-router.js';
import { extractApiKey } from '../http/auth.js';
import { onRequestEnd } from '../http/request-end.js';
import type { ChannelRegistry } from '../routing/channel-registry.js';
import { createHash, timingSafeEqual } from 'node:crypto';

export interface MetricsOptions {
  insights: Insights;
  channels: ChannelRegistry;
  /** Scrapes need `Authorization: Bearer <token>`; undefined: open (only sensible on a private admin listener). */
  token: string | undefined;
  /** Node.js process metrics (CPU, memory, event loop lag) too; default true. */
  processMetrics?: boolean;
  /** Bytes of request bodies this process holds now (http/body-budget.ts), when the gateway has a budget. */
  bodyBytesHeld?: () => number;
}

const circuitStates = { closed: 0, half_open: 1, open: 2 } as const;

export interface GatewayMetrics {
  readonly registry: Registry;
  /** Adds the HTTP hooks and, unless `route` is false, GET /metrics to `app`. */
  register(app: FastifyInstance, options?: { route?: boolean }): void;
  /** Serves GET /metrics on a separate (admin) Fastify instance. */
  serve(app: FastifyInstance): void;
  /** Wraps a router so each upstream attempt's latency and outcome is measured per channel. */
  observeRouter<R extends ModelRouter>(router: R): R;
}

export function createMetrics(options: MetricsOptions): GatewayMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'imagegate_' });

  const httpDuration = new Histogram({
    name: 'imagegate_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method, route and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
    registers: [registry],
  });
  const requests = new Counter({
    name: 'imagegate_requests_total',
    help: 'Image API requests answered, by endpoint, model and HTTP status.',
    labelNames: ['endpoint', 'model', 'status'] as const,
    registers: [registry],
  });
  const images = new Counter({
    name: 'imagegate_images_delivered_total',
    help: 'Images delivered to clients in synchronous and streamed answers, by model and channel.',
    labelNames: ['model', 'channel'] as const,
    registers: [registry],
  });
  const upstreamDuration = new Histogram({
    name: 'imagegate_upstream_request_duration_seconds',
    help: 'Time of each upstream attempt (one channel, one call of a request), by channel, provider and outcome (ok or the error code).',
    labelNames: ['channel', 'provider', 'outcome'] as const,
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 60, 120, 300],
    registers: [registry],
  });
  const upstreamErrors = new Counter({
    name: 'imagegate_upstream_errors_total',
    help: 'Failed upstream attempts, by channel and error code.',
    labelNames: ['channel', 'code'] as const,
    registers: [registry],
  });
  const channelGauge = (name: string, help: string, read: (health: ReturnType<ChannelRegistry['list']>[number]['health']) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['channel'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const channel of options.channels.list()) this.set({ channel: channel.name }, read(channel.health));
      },
    });
  const bodyBytesHeld = options.bodyBytesHeld;
  if (bodyBytesHeld !== undefined) {
    new Gauge({
      name: 'imagegate_request_body_bytes_held',
      help: 'Bytes of request bodies this process holds now, against server.body_memory_mb (bodies under 64 KB are not counted).',
      registers: [registry],
      collect() {
        this.set(bodyBytesHeld());
      },
    });
  }
  channelGauge('imagegate_channel_circuit_state', 'Circuit breaker state of each channel: 0 closed, 1 half-open, 2 open.', (health) => circuitStates[health.circuit]);
  channelGauge('imagegate_channel_in_flight', 'Upstream calls in flight on each channel (this process).', (health) => health.in_flight);
  channelGauge('imagegate_channel_queued', 'Requests waiting for a concurrency slot on each channel (this process).', (health) => health.queued);
  new Gauge({
    name: 'imagegate_channel_enabled',
    help: '1 when the channel is enabled.',
    labelNames: ['channel'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const channel of options.channels.list()) this.set({ channel: channel.name }, channel.enabled ? 1 : 0);
    },
  });

  // Shared state, read once per scrape from the database.
  let totals: Promise<Awaited<ReturnType<Insights['totals']>>> | undefined;
  const readTotals = () => (totals ??= options.insights.totals().finally(() => setImmediate(() => (totals = undefined))));
  new Gauge({
    name: 'imagegate_tasks',
    help: 'Asynchronous tasks in the database by status (queued and in_progress are the queue depth; the rest are outcomes within retention).',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const { tasksByStatus } = await readTotals();
      for (const [status, count] of Object.entries(tasksByStatus)) this.set({ status }, count);
    },
  });
  new Gauge({
    name: 'imagegate_billing_charged_credits',
    help: 'Credits charged to metered keys, all time (1 credit = $0.000001).',
    registers: [registry],
    async collect() {
      this.set((await readTotals()).chargedCredits);
    },
  });
  new Gauge({
    name: 'imagegate_billing_held_credits',
    help: 'Credits held by reservations of requests and tasks still running.',
    registers: [registry],
    async collect() {
      this.set((await readTotals()).heldCredits);
    },
  });
  new Gauge({
    name: 'imagegate_billing_images',
    help: 'Images paid for (settled usage rows), all time.',
    registers: [registry],
    async collect() {
      this.set((await readTotals()).imagesBilled);
    },
  });

  const expected = options.token === undefined ? undefined : createHash('sha256').update(options.token).digest();
  const authorize = (request: FastifyRequest) => {
    if (expected === undefined) return;
    const presented = extractApiKey(request);
    if (presented === undefined) throw new GatewayError('invalid_api_key', "Metrics need the metrics token: 'Authorization: Bearer <token>'.");
    if (!timingSafeEqual(createHash('sha256').update(presented).digest(), expected)) throw new GatewayError('invalid_api_key', 'Incorrect metrics token provided.');
  };
  const route = (app: FastifyInstance) => {
    app.get('/metrics', async (request, reply) => {
      authorize(request);
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    });
  };

  return {
    registry,
    register(app, settings = {}) {
      const observe = (request: FastifyRequest, status: number, seconds: number): void => {
        const context = request.imagegate;
        const routePattern = (context === null ? request.routeOptions.url : context.route) ?? 'unmatched';
        httpDuration.observe({ method: request.method, route: routePattern, status_code: String(status) }, seconds);
        if (context?.endpoint !== undefined) {
          requests.inc({ endpoint: context.endpoint, model: context.model ?? 'none', status: String(status) });
          if (context.imagesDelivered > 0) images.inc({ model: context.model ?? 'none', channel: context.channel ?? 'none' }, context.imagesDelivered);
        }
      };
      // A client gone before its answer was complete is counted with nginx's 499, as the request log records it.
      onRequestEnd(app, (request, reply, status) => observe(request, status, reply.elapsedTime / 1000));
      if (settings.route ?? true) route(app);
    },
    serve: route,
    observeRouter(router) {
      const run: ModelRouter['run'] = (model, request, attempt) =>
        router.run(model, request, async (modelRoute, control) => {
          const started = performance.now();
          try {
            const value = await attempt(modelRoute, control);
            // Label objects as literals, not spread and extended (docs/architecture.md: no hidden class per request).
            upstreamDuration.observe({ channel: modelRoute.channel, provider: modelRoute.provider, outcome: 'ok' }, (performance.now() - started) / 1000);
            return value;
          } catch (error) {
            const code = isGatewayError(error) ? error.code : 'server_error';
            upstreamDuration.observe({ channel: modelRoute.channel, provider: modelRoute.provider, outcome: code }, (performance.now() - started) / 1000);
            upstreamErrors.inc({ channel: modelRoute.channel, code });
            throw error;
          }
        });
      // Same object otherwise: describe(), the registry's admin methods.
      return new Proxy(router, { get: (target, property, receiver) => (property === 'run' ? run : Reflect.get(target, property, receiver)) });
    },
  };
}
