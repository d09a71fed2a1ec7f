// Tests a channel with one small real generation: cheapest size and quality, one image, the result
// fetched and checked to be an image. Reports ok or the error, and the latency, without touching the
// channel's health (an operator tests a channel to decide whether to enable it).

import { performance } from 'node:perf_hooks';
import type { Catalog } from '../core/catalog/catalog.js';
import type { CatalogModel } from '../core/catalog/types.js';
import { GatewayError, isGatewayError } from '../core/errors.js';
import { parseImageRequest } from '../core/image-request.js';
import { HttpClientError, type HttpClient } from '../core/ports/http-client.js';
import type { ImageModel, ProviderImage } from '../core/ports/image-model.js';
import { parseSize } from '../core/sizes.js';
import { sniffFormat } from '../images/codec.js';
import { ChannelBusyError, type ConcurrencyLimiter } from './concurrency-limiter.js';

export type ChannelTestResult =
  /** `image`: the generated image's bytes, for a caller that shows it (the admin API sends it only when asked). */
  | { ok: true; channel: string; model: string; upstream_model: string; latency_ms: number; format: string; image?: Buffer }
  | { ok: false; channel: string; model: string; upstream_model: string; latency_ms: number; error: { code: string; message: string }; image?: undefined };

export interface ChannelTestInput {
  catalog: Catalog;
  channel: string;
  model: CatalogModel;
  imageModel: ImageModel;
  limiter: ConcurrencyLimiter;
  http: HttpClient;
  timeoutMs: number | undefined;
  /** performance.now() when the test began. */
  started: number;
}

const testPrompt = 'A small red circle on a plain white background.';
const defaultTestTimeoutMs = 120_000;
const maxTestDownloadBytes = 20 * 1024 * 1024;

export async function runChannelTest(input: ChannelTestInput): Promise<ChannelTestResult> {
  const common = { channel: input.channel, model: input.model.id, upstream_model: input.imageModel.modelId };
  const signal = AbortSignal.timeout(input.timeoutMs ?? defaultTestTimeoutMs);
  const latency = () => Math.round(performance.now() - input.started);
  try {
    const request = parseImageRequest(input.catalog, 'generate', cheapestRequest(input.model));
    const lease = await input.limiter.acquire(1, signal).catch((error: unknown) => {
      if (error instanceof ChannelBusyError) throw new GatewayError('upstream_busy', 'The channel is at its concurrency limit and its queue is full.');
      throw error;
    });
    let image: ProviderImage | undefined;
    try {
      const result = await input.imageModel.generate({
        model: input.imageModel.modelId,
        prompt: request.prompt,
        n: 1,
        size: request.size,
        aspectRatio: request.aspectRatio,
        quality: request.quality,
        style: request.style,
        background: request.background,
        outputFormat: request.outputFormat,
        providerOptions: {},
        images: [],
        abortSignal: signal,
      });
      image = result.images[0];
    } finally {
      lease.release();
    }
    if (image === undefined) throw new GatewayError('upstream_invalid_response', `${input.imageModel.provider} answered without an image.`);
    const bytes = image.kind === 'bytes' ? image.data : await download(input.http, image.url, signal);
    const format = sniffFormat(bytes);
    if (format === undefined) throw new GatewayError('upstream_invalid_response', `${input.imageModel.provider} returned something that is not an image.`);
    return { ok: true, ...common, latency_ms: latency(), format, image: bytes };
  } catch (error) {
    const failure = describeFailure(error, signal);
    return { ok: false, ...common, latency_ms: latency(), error: failure };
  }
}

/** One image at the smallest listed size and the lowest quality: a test should cost as little as possible. */
function cheapestRequest(model: CatalogModel): Record<string, unknown> {
  const body: Record<string, unknown> = { model: model.id, prompt: testPrompt, n: 1 };
  if ('enum' in model.sizes) {
    const sizes = model.sizes.enum
      .map((text) => ({ text, size: parseSize(text) }))
      .filter((entry) => entry.size !== undefined)
      .sort((left, right) => (left.size?.width ?? 0) * (left.size?.height ?? 0) - (right.size?.width ?? 0) * (right.size?.height ?? 0));
    if (sizes[0] !== undefined) body['size'] = sizes[0].text;
  }
  const qualities = model.qualities ?? [];
  const cheapest = ['low', 'standard'].find((quality) => qualities.includes(quality));
  if (cheapest !== undefined) body['quality'] = cheapest;
  return body;
}

async function download(http: HttpClient, url: string, signal: AbortSignal): Promise<Buffer> {
  const response = await http.request(url, { signal, maxBytes: maxTestDownloadBytes });
  if (response.status < 200 || response.status >= 300) {
    throw new GatewayError('upstream_error', `The result image could not be downloaded (HTTP ${response.status}).`);
  }
  return response.body;
}

function describeFailure(error: unknown, signal: AbortSignal): { code: string; message: string } {
  if (isGatewayError(error)) {
    // The operator asked: name the host that was refused, which need not be the configured one.
    const refused = refusedAddress(error);
    return { code: error.code, message: refused === undefined ? error.message : `${error.message}: ${refused}` };
  }
  if (signal.aborted) return { code: 'upstream_timeout', message: 'The channel did not answer in time.' };
  // Anything else is ours, not the upstream's; its text may hold internals, so it is not shown.
  return { code: 'server_error', message: 'The test failed inside the gateway.' };
}

/** The SSRF guard's own words ("http://10.0.0.7:9000 is not a public address") when it refused a connection. */
function refusedAddress(error: GatewayError): string | undefined {
  for (let cause: unknown = error.cause, depth = 0; cause !== undefined && depth < 5; cause = (cause as { cause?: unknown }).cause, depth += 1) {
    if (cause instanceof HttpClientError && cause.reason === 'blocked_address') return cause.message;
  }
  return undefined;
}
