// The image use case: route a validated request to its provider, split `n` into the calls the
// provider allows, gather what arrives (bytes or URLs), bring it to the requested format and store it.

import { randomUUID } from 'node:crypto';
import { GatewayError } from './errors.js';
import type { ImageRequest } from './image-request.js';
import type { Settlement } from './ports/billing.js';
import type { BlobStore } from './ports/blob-store.js';
import type { Clock } from './ports/clock.js';
import type { HttpClient } from './ports/http-client.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageUsage, OutputFormat, PartialImage, ProviderImage, UpstreamJobRef } from './ports/image-model.js';
import type { ModelRoute, ModelRouter } from './ports/model-router.js';
import { base64HasAlpha, encodeImage, fileExtensions, hasAlphaChannel, isAlreadyEncoded, outputContentTypes, sniffBase64Format, sniffFormat } from '../images/codec.js';
import { encodeSvg, isSvgDocument, svgProblem } from '../images/svg.js';

export type { ModelRoute, ModelRouter } from './ports/model-router.js';

export interface DeliveredImage {
  data: Buffer;
  /**
   * The image as base64 text (ASCII bytes, in the pieces it arrived in) when it arrived so and is
   * relayed unchanged; `data` is then decoded only if read. Responses use this text as it is.
   */
  base64?: readonly Buffer[];
  /** Set when the image was stored (url responses, tasks). */
  blobKey?: string;
  revisedPrompt?: string;
  /** Whether the bytes carry an alpha channel (read from the header): what `background: auto` became. */
  hasAlpha?: boolean;
}

export interface GenerationOutcome {
  images: DeliveredImage[];
  warnings: string[];
  usage?: ImageUsage;
  /** What the upstream calls reported costing the operator, in USD, summed; absent when none said. */
  upstreamCostUsd?: number;
  /** The quality tier the upstream reported rendering, when it did (what `auto` became). */
  quality?: string;
  provider: string;
  /** The channel that delivered. */
  channel: string;
  /** Upstream attempts made across channels (failover), the successful one included. */
  attempts: number;
  createdAt: number;
}

/**
 * An upstream's base64 image relayed as it came; its bytes are decoded only if `data` is read. A class,
 * not an object literal with a `get data()`, which this V8 makes a dictionary (docs/architecture.md: no
 * hidden class per request). Spreading one loses `data`: copy the fields instead.
 */
class RelayedImage implements DeliveredImage {
  readonly blobKey = undefined;
  readonly revisedPrompt: string | undefined;
  readonly #image: ProviderImage & { kind: 'bytes' };

  constructor(
    image: ProviderImage & { kind: 'bytes' },
    readonly base64: readonly Buffer[],
    readonly hasAlpha: boolean,
  ) {
    this.#image = image;
    this.revisedPrompt = image.revisedPrompt;
  }

  get data(): Buffer {
    return this.#image.data;
  }
}

export interface ImageServiceDeps {
  router: ModelRouter;
  blobs: BlobStore;
  http: HttpClient;
  clock: Clock;
  /** Largest image accepted from an upstream result URL. */
  maxDownloadBytes?: number;
  /**
   * OpenAI-style token usage for `delivered` images of a request, from the published token table;
   * undefined for models without one. Used only when the provider reports no usage.
   */
  estimateUsage?: (request: ImageRequest, delivered: number) => ImageUsage | undefined;
}

export interface RunOptions {
  signal: AbortSignal;
  /** Store every image even for b64_json (asynchronous tasks keep results as blobs, never in the database). */
  persist?: boolean;
  onProgress?: (percent: number) => void;
  /** `callIndex` tells which of the calls `n` was split into accepted the job (each call is one upstream job). */
  onUpstreamJob?: (job: UpstreamJobRef, callIndex: number) => void | Promise<void>;
  /**
   * Jobs an earlier run of the same request recorded, by call index: those calls poll their job
   * through the model's `resume` instead of submitting again (after a restart, no second generation).
   */
  resumeJobs?: ReadonlyArray<UpstreamJobRef | undefined>;
  /** Streams: receives the request's `partial_images` previews, `index` counting across all of `n`. */
  onPartialImage?: (image: PartialImage) => void;
}

export interface ImageService {
  run(request: ImageRequest, options: RunOptions): Promise<GenerationOutcome>;
}

const operationMethod = { generate: 'generate', edit: 'edit', variation: 'variation' } as const;
const noRecordedJobs: readonly UpstreamJobRef[] = Object.freeze([]);

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
    const encoding = { format: request.outputFormat, compression: request.outputCompression };
    const stored = request.responseFormat === 'url' || options.persist === true;
    // Base64 already in the asked format goes back as it came: a 2 MB image is never decoded, re-encoded or copied.
    if (image.kind === 'bytes' && image.base64 !== undefined && !stored) {
      // Not a raster signature: an SVG (or garbage), judged below on the decoded bytes.
      const base64Format = sniffBase64Format(image.base64);
      if (base64Format !== undefined && isAlreadyEncoded(base64Format, encoding)) {
        // The header is in the first few kilobytes: only those are decoded (the first one, mostly).
        return new RelayedImage(image, image.base64, base64HasAlpha(image.base64));
      }
    }
    const raw = await fetchResult(image, route.provider, options.signal);
    const data = await encodeResult(raw, route.provider, encoding);
    let blobKey: string | undefined;
    if (stored) {
      const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
      blobKey = `images/${day}/${randomUUID()}.${fileExtensions[request.outputFormat]}`;
      await deps.blobs.put(blobKey, data, outputContentTypes[request.outputFormat]);
    }
    return { data, blobKey, revisedPrompt: image.revisedPrompt, hasAlpha: hasAlphaChannel(data) };
  }

  /** Upstream bytes in the asked format: rasters re-encoded as needed, SVGs checked then kept or rasterised. */
  async function encodeResult(raw: Buffer, provider: string, encoding: { format: OutputFormat; compression?: number }): Promise<Buffer> {
    const format = sniffFormat(raw);
    if (format) {
      if (encoding.format === 'svg') {
        throw new GatewayError('upstream_invalid_response', `${provider} returned a raster image (${format}) where an SVG was asked for.`, { retryable: false });
      }
      return encodeImage(raw, format, encoding);
    }
    if (!isSvgDocument(raw)) throw new GatewayError('upstream_invalid_response', `${provider} returned something that is not an image.`);
    const problem = svgProblem(raw);
    if (problem !== undefined) throw new GatewayError('upstream_invalid_response', `${provider} returned an SVG the gateway does not deliver: ${problem}.`, { retryable: false });
    return encodeSvg(raw, encoding);
  }

  return {
    async run(request, options) {
      const method = operationMethod[request.operation];
      // A fresh request (nearly all of them) has no recorded jobs: no array and filter for it.
      const recordedJobs = options.resumeJobs === undefined ? noRecordedJobs : options.resumeJobs.filter((job): job is UpstreamJobRef => job !== undefined);
      const recordedOn = recordedJobs.find((job) => job.channel !== undefined);
      const resume = recordedOn?.channel !== undefined ? { channel: recordedOn.channel, key: recordedOn.channelKey } : request.channel === undefined ? undefined : { channel: request.channel };
      const routeRequest =
        resume === undefined
          ? { operation: method, images: request.n, signal: options.signal, responseFormat: request.responseFormat }
          : { operation: method, images: request.n, signal: options.signal, responseFormat: request.responseFormat, resume };
      // The router tries the model's channels in turn; each attempt makes every upstream call on one route.
      const routed = await deps.router.run(request.model, routeRequest, async (route, control) => {
        // A recorded job was accepted upstream already: it is resumed, never submitted elsewhere.
        if (recordedJobs.length > 0) control.markAccepted();
        const call = route.imageModel[method]?.bind(route.imageModel);
        if (!call) {
          throw new GatewayError('invalid_value', `${request.model.id} cannot do ${request.operation} on channel ${route.channel}.`, { param: 'model' });
        }
        const counts: number[] = [];
        if (request.imageSet === true) {
          // A set is one call: the upstream decides how many related images it holds, up to n.
          const maxPerSet = route.imageModel.maxImagesPerSet;
          if (maxPerSet === undefined || request.n > maxPerSet) {
            throw new GatewayError(
              'invalid_value',
              maxPerSet === undefined
                ? `${route.imageModel.modelId} on channel ${route.channel} does not generate image sets; send sequential_image_generation "disabled" (or leave it out) and use n.`
                : `${route.imageModel.modelId} makes sets of at most ${maxPerSet} images.`,
              { param: 'sequential_image_generation', retryable: false },
            );
          }
          counts.push(request.n);
        } else {
          const perCall = Math.max(1, route.imageModel.maxImagesPerCall);
          for (let left = request.n; left > 0; left -= perCall) counts.push(Math.min(perCall, left));
        }

        // One literal per call with every field, not a shared base spread and extended (docs/architecture.md: no hidden class per request).
        const callOptions = (n: number, seed: number | undefined, onPartialImage: ImageCallOptions['onPartialImage'], onUpstreamJob: ImageCallOptions['onUpstreamJob']): ImageCallOptions => ({
          n,
          seed,
          onPartialImage,
          onUpstreamJob,
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
          onProgress: options.onProgress,
          // Previews are asked for only when someone listens: upstreams bill each one.
          partialImages: options.onPartialImage === undefined ? undefined : request.partialImages,
        });
        // Each call gets its own seed range, so split calls never return the same image twice.
        let seedOffset = 0;
        const calls = counts.map((n, callIndex) => {
          const seed = request.seed === undefined ? undefined : request.seed + seedOffset;
          const firstIndex = seedOffset;
          seedOffset += n;
          const onPartial = options.onPartialImage;
          const onPartialImage = onPartial && ((image: PartialImage) => onPartial({ ...image, index: firstIndex + image.index }));
          const onJob = options.onUpstreamJob;
          const onUpstreamJob = async (job: UpstreamJobRef) => {
            control.markAccepted();
            // The channel travels with the job, so a resume goes back to the account that holds it.
            await onJob?.({ ...job, channel: route.channel, channelKey: route.key }, callIndex);
          };
          const recorded = options.resumeJobs?.[callIndex];
          if (recorded) return resumeCall(route.imageModel, recorded, callOptions(n, seed, onPartialImage, onUpstreamJob));
          return call(callOptions(n, seed, onPartialImage, onUpstreamJob));
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
          throw decisiveFailure(failures) ?? new GatewayError('upstream_error', `${route.provider} returned no images.`, { retryable: false });
        }
        return { results, failures, provided };
      });
      const { route } = routed;
      const { results, failures, provided } = routed.value;

      const now = new Date(deps.clock.now());
      const images = await Promise.all(provided.slice(0, request.n).map((image) => deliver(request, image, route, options, now)));

      const warnings = [...request.warnings, ...routed.warnings];
      // Warnings speak only of what the request carried, never of a default the gateway filled in.
      const defaulted = new Set(request.defaulted ?? []);
      for (const result of results) {
        for (const warning of result.warnings) if (warning.param === undefined || !defaulted.has(warning.param)) warnings.push(warning.param ? `${warning.param}: ${warning.message}` : warning.message);
      }
      // A set's size is the model's choice (up to n), so fewer images is no shortfall.
      if (images.length < request.n && request.imageSet !== true) {
        const reason = failures[0] instanceof Error ? `: ${failures[0].message}` : '';
        warnings.push(`delivered ${images.length} of ${request.n} images${reason}`);
      }
      // An estimate when the provider reported nothing (the offline engine): gpt-image clients and
      // billing then see the same numbers OpenAI's token table gives, not an absent `usage`.
      const usage = sumUsage(results) ?? deps.estimateUsage?.(request, images.length);
      return {
        images,
        warnings: [...new Set(warnings)],
        usage,
        ...upstreamCostOf(results),
        ...qualityOf(results),
        provider: route.provider,
        channel: route.channel,
        attempts: routed.attempts,
        createdAt: Math.floor(now.getTime() / 1000),
      };
    },
  };
}

/** What a request's billing settles for what it delivered (sync, streamed or as a task). */
export function settlementOf(outcome: GenerationOutcome): Settlement {
  return {
    imagesDelivered: outcome.images.length,
    usage: outcome.usage,
    channel: outcome.channel,
    provider: outcome.provider,
    ...(outcome.upstreamCostUsd === undefined ? {} : { upstreamCostUsd: outcome.upstreamCostUsd }),
  };
}

/** The failure that decides a failed attempt: one not worth retrying (moderation, validation) outweighs a retryable one. */
function decisiveFailure(failures: unknown[]): unknown {
  return failures.find((failure) => failure instanceof GatewayError && !failure.retryable) ?? failures[0];
}

/** Continues a job an earlier run recorded; a job this channel cannot resume fails rather than being paid for twice. */
function resumeCall(model: ImageModel, job: UpstreamJobRef, options: ImageCallOptions): Promise<ImageCallResult> {
  if (!model.resume || job.provider !== model.provider) {
    return Promise.reject(
      new GatewayError('server_error', `The recorded ${job.provider} job cannot be resumed by ${model.provider}; it is not submitted again, to avoid paying twice.`, { retryable: false }),
    );
  }
  return model.resume(job, options);
}

/** The tier the upstream reported rendering (the first call that said), for the response's `quality`. */
function qualityOf(results: ImageCallResult[]): { quality?: string } {
  const quality = results.find((result) => result.quality !== undefined)?.quality;
  return quality === undefined ? {} : { quality };
}

/** The upstream's own cost of the calls, summed (USD), when any call reported one. */
function upstreamCostOf(results: ImageCallResult[]): { upstreamCostUsd?: number } {
  const costs = results.flatMap((result) => (result.upstreamCostUsd === undefined ? [] : [result.upstreamCostUsd]));
  // Rounded to the nanodollar: float sums of reported decimals (0.0387 + 0.0387 …) carry binary noise.
  return costs.length === 0 ? {} : { upstreamCostUsd: Math.round(costs.reduce((sum, cost) => sum + cost, 0) * 1e9) / 1e9 };
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
