// The image use case: route a validated request to its provider, split `n` into the calls the
// provider allows, gather what arrives (bytes or URLs), bring it to the requested format and store it.

import { randomUUID } from 'node:crypto';
import { GatewayError } from './errors.js';
import type { ImageRequest } from './image-request.js';
import type { BlobStore } from './ports/blob-store.js';
import type { Clock } from './ports/clock.js';
import type { HttpClient } from './ports/http-client.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageUsage, ProviderImage, UpstreamJobRef } from './ports/image-model.js';
import type { CatalogModel } from './catalog/types.js';
import { encodeImage, fileExtensions, sniffFormat } from '../images/codec.js';

/** Where a model's requests go: the provider's model and the channel it belongs to. */
export interface ModelRoute {
  imageModel: ImageModel;
  channel: string;
  provider: string;
}

export interface ModelRouter {
  route(model: CatalogModel): ModelRoute;
}

export interface DeliveredImage {
  data: Buffer;
  /** Set when the image was stored (url responses, tasks). */
  blobKey?: string;
  revisedPrompt?: string;
}

export interface GenerationOutcome {
  images: DeliveredImage[];
  warnings: string[];
  usage?: ImageUsage;
  provider: string;
  channel: string;
  createdAt: number;
}

export interface ImageServiceDeps {
  router: ModelRouter;
  blobs: BlobStore;
  http: HttpClient;
  clock: Clock;
  /** Largest image accepted from an upstream result URL. */
  maxDownloadBytes?: number;
}

export interface RunOptions {
  signal: AbortSignal;
  /** Store every image even for b64_json (asynchronous tasks keep results as blobs, never in the database). */
  persist?: boolean;
  onProgress?: (percent: number) => void;
  onUpstreamJob?: (job: UpstreamJobRef) => void | Promise<void>;
}

export interface ImageService {
  run(request: ImageRequest, options: RunOptions): Promise<GenerationOutcome>;
}

const operationMethod = { generate: 'generate', edit: 'edit', variation: 'variation' } as const;

export function createImageService(deps: ImageServiceDeps): ImageService {
  const maxDownloadBytes = deps.maxDownloadBytes ?? 50 * 1024 * 1024;

  async function fetchResult(image: ProviderImage, provider: string, signal: AbortSignal): Promise<Buffer> {
    if (image.kind === 'bytes') return image.data;
    const response = await deps.http.request(image.url, { signal, maxBytes: maxDownloadBytes }).catch((error: unknown) => {
      throw new GatewayError('upstream_error', `Could not download the result image from ${provider}.`, { cause: error, retryable: false });
    });
    if (response.status < 200 || response.status >= 300) {
      // Retrying would generate (and bill) the image again; the result is gone, say so.
      throw new GatewayError('upstream_error', `The result image from ${provider} could not be downloaded (HTTP ${response.status}); it may have expired.`, {
        retryable: false,
      });
    }
    return response.body;
  }

  async function deliver(request: ImageRequest, image: ProviderImage, route: ModelRoute, options: RunOptions, now: Date): Promise<DeliveredImage> {
    const raw = await fetchResult(image, route.provider, options.signal);
    const format = sniffFormat(raw);
    if (!format) throw new GatewayError('upstream_invalid_response', `${route.provider} returned something that is not an image.`);
    const data = await encodeImage(raw, format, { format: request.outputFormat, compression: request.outputCompression });
    let blobKey: string | undefined;
    if (request.responseFormat === 'url' || options.persist) {
      const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
      blobKey = `images/${day}/${randomUUID()}.${fileExtensions[request.outputFormat]}`;
      await deps.blobs.put(blobKey, data, `image/${request.outputFormat}`);
    }
    return { data, blobKey, revisedPrompt: image.revisedPrompt };
  }

  return {
    async run(request, options) {
      const route = deps.router.route(request.model);
      const method = operationMethod[request.operation];
      const call = route.imageModel[method]?.bind(route.imageModel);
      if (!call) {
        throw new GatewayError('invalid_value', `${request.model.id} cannot do ${request.operation} on channel ${route.channel}.`, { param: 'model' });
      }
      const perCall = Math.max(1, route.imageModel.maxImagesPerCall);
      const counts: number[] = [];
      for (let left = request.n; left > 0; left -= perCall) counts.push(Math.min(perCall, left));

      const baseOptions: Omit<ImageCallOptions, 'n' | 'seed'> = {
        model: route.imageModel.modelId,
        prompt: request.prompt,
        size: request.size,
        aspectRatio: request.aspectRatio,
        quality: request.quality,
        style: request.style,
        background: request.background,
        outputFormat: request.outputFormat,
        outputCompression: request.outputCompression,
        moderation: request.moderation,
        user: request.user,
        providerOptions: request.inputFidelity === undefined ? request.providerOptions : { ...request.providerOptions, input_fidelity: request.inputFidelity },
        images: request.images,
        mask: request.mask,
        abortSignal: options.signal,
        onUpstreamJob: options.onUpstreamJob,
        onProgress: options.onProgress,
      };
      // Each call gets its own seed range, so split calls never return the same image twice.
      let seedOffset = 0;
      const calls = counts.map((n) => {
        const seed = request.seed === undefined ? undefined : request.seed + seedOffset;
        seedOffset += n;
        return call({ ...baseOptions, n, seed });
      });
      const settled = await Promise.allSettled(calls);
      options.signal.throwIfAborted();

      const results: ImageCallResult[] = [];
      const failures: unknown[] = [];
      for (const outcome of settled) {
        if (outcome.status === 'fulfilled') results.push(outcome.value);
        else failures.push(outcome.reason);
      }
      const provided = results.flatMap((result) => result.images);
      if (provided.length === 0) {
        throw failures[0] ?? new GatewayError('upstream_error', `${route.provider} returned no images.`, { retryable: false });
      }

      const now = new Date(deps.clock.now());
      const images = await Promise.all(provided.slice(0, request.n).map((image) => deliver(request, image, route, options, now)));

      const warnings = [...request.warnings];
      for (const result of results) {
        for (const warning of result.warnings) warnings.push(warning.param ? `${warning.param}: ${warning.message}` : warning.message);
      }
      if (images.length < request.n) {
        const reason = failures[0] instanceof Error ? `: ${failures[0].message}` : '';
        warnings.push(`delivered ${images.length} of ${request.n} images${reason}`);
      }
      const usage = sumUsage(results);
      return {
        images,
        warnings: [...new Set(warnings)],
        usage,
        provider: route.provider,
        channel: route.channel,
        createdAt: Math.floor(now.getTime() / 1000),
      };
    },
  };
}

function sumUsage(results: ImageCallResult[]): ImageUsage | undefined {
  const usages = results.map((result) => result.usage).filter((usage): usage is ImageUsage => usage !== undefined);
  if (usages.length === 0) return undefined;
  return usages.reduce((total, usage) => ({
    inputTokens: total.inputTokens + usage.inputTokens,
    outputTokens: total.outputTokens + usage.outputTokens,
    inputTextTokens: (total.inputTextTokens ?? 0) + (usage.inputTextTokens ?? 0),
    inputImageTokens: (total.inputImageTokens ?? 0) + (usage.inputImageTokens ?? 0),
  }));
}
