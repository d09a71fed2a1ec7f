// One fal.ai model as an ImageModel: submit to the queue, poll the status URL, fetch and map the result.

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ProviderImage, ProviderWarning, UpstreamJobRef } from '../../core/ports/image-model.js';
import { pollUntilDone, type PollStepResult } from '../shared/poll.js';
import { cancelUpstreamOnAbortOrTimeout, decodeBase64DataUri, sameOrigin, transientFailureAllowance } from '../shared/queue-jobs.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { HttpRequestOptions, HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, invalidUpstreamResponse, moderationError } from '../shared/upstream-errors.js';
import { falProviderName, parseErrorDetails, parseResult, parseStatus, parseSubmission, type ErrorDetail, type GenerationResult } from './wire.js';

export const falDefaultBaseURL = 'https://queue.fal.run';

/** fal's `image_size` presets (the FLUX endpoints' enum). */
export const falImageSizePresets = {
  square_hd: { width: 1024, height: 1024 },
  square: { width: 512, height: 512 },
  portrait_4_3: { width: 768, height: 1024 },
  portrait_16_9: { width: 576, height: 1024 },
  landscape_4_3: { width: 1024, height: 768 },
  landscape_16_9: { width: 1024, height: 576 },
} as const;

/** FLUX 1.1 [pro] ultra takes an aspect ratio instead of `image_size`. */
export const falUltraAspectRatios = ['21:9', '16:9', '4:3', '3:2', '1:1', '2:3', '3:4', '9:16', '9:21'] as const;

/**
 * Custom `image_size` objects: FLUX works on a 16-pixel grid; the edge and area bounds are the
 * ones the FLUX endpoints accept in practice (fal does not document them) [inferred].
 */
const falPixelSizeSpec: SizeSpec = { kind: 'pixels', multiple: 16, minEdge: 256, maxEdge: 2048, maxPixels: 2048 * 2048 };

/** `num_images` is 1–4 on the FLUX.1 endpoints. */
const falMaxImagesPerCall = 4;

/**
 * Endpoints without `num_images`: one image per job, so the core fans `n` out. From fal-js's
 * generated types (@fal-ai/client 1.10.1, src/types/endpoints.d.ts): `Flux2ProInput = Flux2MaxInput`
 * = {prompt, image_size, output_format, safety_tolerance, seed, sync_mode, enable_safety_checker};
 * fal ignores an unknown `num_images` and answers one image (issue 10 item 3).
 */
const singleImageEndpoints = /^fal-ai\/flux-2-(pro|max)(\/edit)?$/;
const defaultTimeoutMs = 300_000;
const defaultPollIntervalMs = 1_000;
/** A best-effort cancel gets this long on its own; the call it belongs to may already be aborted. */
const cancelTimeoutMs = 10_000;
/** Poll failures that are likely transient (429, 5xx, network) are ridden out this many times in a row. */
const transientPollFailuresAllowed = 3;

interface QueueJob {
  requestId: string;
  statusUrl: string;
  responseUrl: string;
  cancelUrl: string | undefined;
}

export function createFalImageModel(settings: ProviderSettings, upstreamModel: string): ImageModel {
  if (!/^[\w.-]+\/[\w.-]+(\/[\w.-]+)*$/.test(upstreamModel)) {
    throw new GatewayError('invalid_value', `fal model ids look like 'owner/app[/path]', e.g. 'fal-ai/flux/dev'; got ${JSON.stringify(upstreamModel)}.`, { param: 'model' });
  }
  const baseURL = (settings.baseURL === '' ? falDefaultBaseURL : settings.baseURL).replace(/\/+$/, '');
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
  const pollIntervalMs = settings.pollIntervalMs ?? defaultPollIntervalMs;
  const usesAspectRatio = /-ultra(\b|-|$)/.test(upstreamModel);
  const takesNumImages = !singleImageEndpoints.test(upstreamModel);
  // Channel options are snake_case in the YAML config; the camelCase spelling is kept for older setups.
  const presetsOnly = (settings.options?.['image_size'] ?? settings.options?.['imageSize']) === 'preset';
  const authorization = { authorization: `Key ${settings.apiKey}` };
  const secrets = [settings.apiKey];

  const send = async (url: string, request: HttpRequestOptions, signal: AbortSignal, deadline: number): Promise<HttpResponse> => {
    return requestUpstream(settings.http, falProviderName, url, { ...request, headers: { ...authorization, ...request.headers }, signal, timeoutMs: Math.max(1, deadline - Date.now()) });
  };

  const cancelBestEffort = async (cancelUrl: string | undefined): Promise<void> => {
    if (cancelUrl === undefined) return;
    try {
      await settings.http.request(cancelUrl, { method: 'PUT', headers: authorization, timeoutMs: cancelTimeoutMs });
    } catch {
      // Best effort: fal only cancels queued requests, and the caller's own error matters more.
    }
  };

  const buildInput = (options: ImageCallOptions): { input: Record<string, unknown>; warnings: ProviderWarning[] } => {
    const warnings: ProviderWarning[] = [];
    const input: Record<string, unknown> = { prompt: options.prompt, ...(takesNumImages ? { num_images: options.n } : {}) };
    const sizeInput = { size: options.size, aspectRatio: options.aspectRatio };
    if (usesAspectRatio) {
      const mapped = mapSize(sizeInput, { kind: 'aspect_ratio', ratios: falUltraAspectRatios });
      if (mapped.value.kind === 'aspect_ratio') input['aspect_ratio'] = mapped.value.aspectRatio;
      warnings.push(...mapped.warnings);
    } else {
      // A size that is exactly a preset goes as its name; any other goes as pixels, unless the
      // channel says this endpoint knows presets only.
      const asPreset = mapSize(sizeInput, { kind: 'preset', presets: falImageSizePresets });
      if (asPreset.warnings.length === 0 || presetsOnly) {
        if (asPreset.value.kind === 'preset') input['image_size'] = asPreset.value.preset;
        warnings.push(...asPreset.warnings);
      } else {
        const asPixels = mapSize(sizeInput, falPixelSizeSpec);
        if (asPixels.value.kind === 'pixels') input['image_size'] = { width: asPixels.value.width, height: asPixels.value.height };
        warnings.push(...asPixels.warnings);
      }
    }
    if (options.seed !== undefined) input['seed'] = options.seed;
    // fal renders jpeg or png; for webp the core transcodes the lossless png, so nothing is lost.
    input['output_format'] = options.outputFormat === 'jpeg' ? 'jpeg' : 'png';
    if (options.outputCompression !== undefined && options.outputFormat === 'jpeg') {
      warnings.push({ type: 'unsupported', param: 'output_compression', message: 'fal takes no jpeg quality setting; output_compression was ignored.' });
    }
    // The checker is what tells a real image from a blacked-out one, so it stays on unless the
    // channel or request turns it off explicitly through provider options.
    input['enable_safety_checker'] = true;
    warnings.push(...unsupportedOptionWarnings(options));
    Object.assign(input, options.providerOptions);
    return { input, warnings };
  };

  /** Queue URLs carry the API key, so they must point at the configured queue host, never elsewhere. */
  const checkJobUrls = (job: QueueJob): QueueJob => {
    for (const url of [job.statusUrl, job.responseUrl, job.cancelUrl]) {
      if (url !== undefined && !sameOrigin(url, baseURL)) throw invalidUpstreamResponse(falProviderName, 'the queue URLs point outside the configured API');
    }
    return job;
  };

  const submit = async (input: Record<string, unknown>, options: ImageCallOptions, deadline: number): Promise<QueueJob> => {
    const response = await send(`${baseURL}/${upstreamModel}`, { method: 'POST', json: input }, options.abortSignal, deadline);
    if (response.status < 200 || response.status > 299) throw errorFromUpstreamResponse(falProviderName, response, { secrets });
    return checkJobUrls(parseSubmission(response.body));
  };

  const waitUntilCompleted = async (job: QueueJob, options: ImageCallOptions, deadline: number): Promise<void> => {
    const statusUrl = new URL(job.statusUrl);
    statusUrl.searchParams.set('logs', '0');
    const failures = transientFailureAllowance(transientPollFailuresAllowed);
    const step = async (): Promise<PollStepResult<true>> => {
      let response: HttpResponse;
      try {
        response = await send(statusUrl.toString(), { method: 'GET' }, options.abortSignal, deadline);
      } catch (error) {
        if (options.abortSignal.aborted) throw error;
        failures.rideOut(error);
        return { done: false };
      }
      if (response.status !== 200 && response.status !== 202) {
        failures.rideOut(errorFromUpstreamResponse(falProviderName, response, { secrets }));
        return { done: false };
      }
      failures.reset();
      return parseStatus(response.body) === 'COMPLETED' ? { done: true, value: true } : { done: false };
    };
    await pollUntilDone(step, {
      intervalMs: pollIntervalMs,
      timeoutMs: Math.max(0, deadline - Date.now()),
      signal: options.abortSignal,
      provider: falProviderName,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
  };

  const fetchResult = async (job: QueueJob, options: ImageCallOptions, deadline: number): Promise<GenerationResult> => {
    const response = await send(job.responseUrl, { method: 'GET' }, options.abortSignal, deadline);
    if (response.status !== 200) {
      const stage = moderationStageOf(parseErrorDetails(response.body));
      if (stage !== undefined) throw moderationError({ provider: falProviderName, model: upstreamModel, stage });
      throw errorFromUpstreamResponse(falProviderName, response, { secrets });
    }
    return parseResult(response.body);
  };

  /** Waits and fetches; on abort or time-out the request is cancelled upstream (fal stops it if still queued). */
  const finish = async (job: QueueJob, options: ImageCallOptions, deadline: number, warnings: ProviderWarning[]): Promise<ImageCallResult> => {
    const result = await cancelUpstreamOnAbortOrTimeout(
      async () => {
        await waitUntilCompleted(job, options, deadline);
        return fetchResult(job, options, deadline);
      },
      options.abortSignal,
      () => cancelBestEffort(job.cancelUrl),
    );
    return { ...imagesOf(result, upstreamModel, warnings), upstreamRequestId: job.requestId };
  };

  const generate = async (options: ImageCallOptions): Promise<ImageCallResult> => {
    const deadline = Date.now() + timeoutMs;
    const { input, warnings } = buildInput(options);
    const job = await submit(input, options, deadline);
    try {
      await options.onUpstreamJob?.({
        provider: falProviderName,
        data: { request_id: job.requestId, status_url: job.statusUrl, response_url: job.responseUrl, ...(job.cancelUrl === undefined ? {} : { cancel_url: job.cancelUrl }) },
      });
    } catch (error) {
      // Nobody will look after an unrecorded job: stop it rather than pay for it.
      await cancelBestEffort(job.cancelUrl);
      throw error;
    }
    return finish(job, options, deadline, warnings);
  };

  const jobFromReference = (reference: UpstreamJobRef): QueueJob => {
    const { request_id: requestId, status_url: statusUrl, response_url: responseUrl, cancel_url: cancelUrl } = reference.data;
    if (
      reference.provider !== falProviderName ||
      typeof requestId !== 'string' ||
      typeof statusUrl !== 'string' ||
      typeof responseUrl !== 'string' ||
      (cancelUrl !== undefined && typeof cancelUrl !== 'string')
    ) {
      throw new GatewayError('server_error', 'The recorded upstream job is not a fal queue request.');
    }
    const job = { requestId, statusUrl, responseUrl, cancelUrl };
    if (![statusUrl, responseUrl, cancelUrl].every((url) => url === undefined || sameOrigin(url, baseURL))) {
      throw new GatewayError('server_error', "The recorded fal request points outside the channel's API.");
    }
    return job;
  };

  return {
    specificationVersion: 'v1',
    provider: falProviderName,
    modelId: upstreamModel,
    maxImagesPerCall: takesNumImages ? falMaxImagesPerCall : 1,
    operations: ['generate'],
    generate,
    async resume(reference, options) {
      return finish(jobFromReference(reference), options, Date.now() + timeoutMs, []);
    },
    async cancel(reference) {
      await cancelBestEffort(jobFromReference(reference).cancelUrl);
    },
  };
}

/**
 * Images the safety checker flagged are black placeholders: they are dropped, never delivered as
 * a success. All dropped is a moderation failure of the output; some dropped is a warning.
 */
function imagesOf(result: GenerationResult, upstreamModel: string, warnings: ProviderWarning[]): Pick<ImageCallResult, 'images' | 'warnings'> {
  const kept = result.images.filter((_, index) => result.nsfwFlags[index] !== true);
  const dropped = result.images.length - kept.length;
  if (kept.length === 0) {
    if (dropped > 0) throw moderationError({ provider: falProviderName, model: upstreamModel, stage: 'output', reasons: ['nsfw'] });
    throw new GatewayError('upstream_error', 'fal returned no images.', { retryable: true });
  }
  const allWarnings = [...warnings];
  if (dropped > 0) {
    allWarnings.push({
      type: 'other',
      message: `${dropped} of ${result.images.length} generated images were withheld because fal's safety checker flagged them.`,
    });
  }
  return { images: kept.map((image) => imageFromResult(image.url, image.contentType)), warnings: allWarnings };
}

function imageFromResult(url: string, contentType: string | undefined): ProviderImage {
  if (url.startsWith('data:')) {
    const decoded = decodeBase64DataUri(url);
    if (decoded === undefined) throw invalidUpstreamResponse(falProviderName, 'an image data URI is not base64');
    return { kind: 'bytes', data: decoded.data, mediaType: decoded.mediaType ?? contentType ?? 'application/octet-stream' };
  }
  if (!/^https?:\/\//i.test(url)) throw invalidUpstreamResponse(falProviderName, 'an image url is not an http(s) URL');
  return { kind: 'url', url };
}

/**
 * fal marks moderation with `type: "content_policy_violation"` in `detail[]`. It is about the
 * prompt or input image unless the entry says it is about what was generated.
 */
export function moderationStageOf(details: ErrorDetail[]): 'input' | 'output' | undefined {
  const violation = details.find((detail) => detail.type === 'content_policy_violation');
  if (violation === undefined) return undefined;
  const aboutInput = violation.location.some((part) => part === 'prompt' || part === 'image_url' || part === 'image_urls');
  if (!aboutInput && /\b(output|generated)\b/i.test(violation.message)) return 'output';
  return 'input';
}

function unsupportedOptionWarnings(options: ImageCallOptions): ProviderWarning[] {
  const warnings: ProviderWarning[] = [];
  if (options.quality !== undefined && options.quality !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'quality', message: 'fal models take no quality setting; quality was ignored.' });
  }
  if (options.style !== undefined) warnings.push({ type: 'unsupported', param: 'style', message: 'fal models take no style setting; style was ignored.' });
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'fal FLUX models cannot render a transparent background; the image is opaque.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: "fal's safety checker stays on; moderation was ignored." });
  }
  if (options.user !== undefined) warnings.push({ type: 'unsupported', param: 'user', message: 'fal takes no end-user identifier; user was not forwarded.' });
  return warnings;
}
