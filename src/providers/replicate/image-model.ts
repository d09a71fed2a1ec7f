// One Replicate model as an ImageModel: create a prediction (waiting up to 60 s), poll it, map the outputs.

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ProviderImage, ProviderWarning, UpstreamJobRef } from '../../core/ports/image-model.js';
import { pollUntilDone, type PollStepResult } from '../shared/poll.js';
import { cancelUpstreamOnAbortOrTimeout, decodeBase64DataUri, sameOrigin, transientFailureAllowance } from '../shared/queue-jobs.js';
import { mapSize, nearestAspectRatio, parseAspectRatio } from '../shared/size-mapping.js';
import { replicateModelSchema, type ReplicateModelSchema, type ReplicateOutputFormat } from './models.js';
import type { HttpRequestOptions, HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, invalidUpstreamResponse, moderationError, sanitizeUpstreamMessage } from '../shared/upstream-errors.js';
import { isTerminal, outputStrings, parsePrediction, progressFromLogs, replicateProviderName, type Prediction } from './wire.js';

export const replicateDefaultBaseURL = 'https://api.replicate.com/v1';

/** The FLUX.1 schnell/dev `aspect_ratio` enum on Replicate (other models have their own: models.ts). */
export const replicateFluxAspectRatios = ['1:1', '16:9', '21:9', '3:2', '2:3', '4:5', '5:4', '3:4', '4:3', '9:16', '9:21'] as const;

const defaultTimeoutMs = 300_000;
const defaultPollIntervalMs = 1_000;
/** Replicate's `Prefer: wait=N` accepts 1–60 seconds. */
const longestPreferWaitSeconds = 60;
/** A best-effort cancel gets this long on its own; the call it belongs to may already be aborted. */
const cancelTimeoutMs = 10_000;
/** Poll failures that are likely transient (429, 5xx, network) are ridden out this many times in a row. */
const transientPollFailuresAllowed = 3;

export interface ReplicateModelReference {
  /** `owner/name`, used for the capability lookup and the model route. */
  modelName: string;
  /** The 64-hex version id when the upstream name was given as `owner/name:version`. */
  version: string | undefined;
}

export function parseModelReference(upstreamModel: string): ReplicateModelReference {
  const match = /^([^/:\s]+\/[^/:\s]+)(?::([0-9a-f]{64}))?$/.exec(upstreamModel);
  if (match === null || match[1] === undefined) {
    throw new GatewayError('invalid_value', `Replicate model names look like 'owner/name' or 'owner/name:<64-hex version>', got ${JSON.stringify(upstreamModel)}.`, {
      param: 'model',
    });
  }
  return { modelName: match[1], version: match[2] };
}

interface JobUrls {
  id: string;
  getUrl: string;
  cancelUrl: string;
}

export function createReplicateImageModel(settings: ProviderSettings, upstreamModel: string): ImageModel {
  const reference = parseModelReference(upstreamModel);
  const schema = replicateModelSchema(reference.modelName);
  const baseURL = (settings.baseURL === '' ? replicateDefaultBaseURL : settings.baseURL).replace(/\/+$/, '');
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
  const pollIntervalMs = settings.pollIntervalMs ?? defaultPollIntervalMs;
  // Channel options are snake_case in the YAML config; the camelCase spelling is kept for older setups.
  const configuredMaximum = settings.options?.['max_images_per_call'] ?? settings.options?.['maxImagesPerCall'];
  const maxImagesPerCall =
    typeof configuredMaximum === 'number' && Number.isInteger(configuredMaximum) && configuredMaximum >= 1
      ? configuredMaximum
      : schema.numOutputs
        ? 4
        : 1;
  const authorization = { authorization: `Bearer ${settings.apiKey}` };
  const secrets = [settings.apiKey];

  /** Every call goes through here: the caller's abort signal, the call's deadline, transport errors mapped. */
  const send = async (url: string, request: HttpRequestOptions, signal: AbortSignal | undefined, deadline: number): Promise<HttpResponse> => {
    return requestUpstream(settings.http, replicateProviderName, url, {
      ...request,
      headers: { ...authorization, ...request.headers },
      ...(signal === undefined ? {} : { signal }),
      timeoutMs: Math.max(1, deadline - Date.now()),
    });
  };

  /** The prediction URLs carry the API key, so they must point at the configured API, never elsewhere. */
  const trustedUrl = (url: string | undefined, fallback: string): string => {
    if (url === undefined) return fallback;
    if (!sameOrigin(url, baseURL)) throw invalidUpstreamResponse(replicateProviderName, 'the prediction URLs point outside the configured API');
    return url;
  };

  const jobUrlsOf = (prediction: Prediction): JobUrls => ({
    id: prediction.id,
    getUrl: trustedUrl(prediction.getUrl, `${baseURL}/predictions/${encodeURIComponent(prediction.id)}`),
    cancelUrl: trustedUrl(prediction.cancelUrl, `${baseURL}/predictions/${encodeURIComponent(prediction.id)}/cancel`),
  });

  const cancelBestEffort = async (cancelUrl: string): Promise<void> => {
    try {
      await settings.http.request(cancelUrl, { method: 'POST', headers: authorization, timeoutMs: cancelTimeoutMs });
    } catch {
      // Best effort: the prediction may already be finished, or the upstream unreachable; the
      // error the caller is about to see matters more than this one.
    }
  };

  const buildInput = (options: ImageCallOptions): { input: Record<string, unknown>; warnings: ProviderWarning[] } => {
    const warnings: ProviderWarning[] = [];
    const input: Record<string, unknown> = { prompt: options.prompt };
    if (maxImagesPerCall > 1 && schema.numOutputs) input['num_outputs'] = options.n;
    Object.assign(input, sizeInput(options, schema, reference.modelName, warnings));
    Object.assign(input, formatInput(options, schema, warnings));
    if (options.seed !== undefined) input['seed'] = options.seed;
    warnings.push(...unsupportedOptionWarnings(options));
    // Request fields the gateway does not model are the model's own inputs (guidance, go_fast …).
    Object.assign(input, options.providerOptions);
    return { input, warnings };
  };

  const createPrediction = async (input: Record<string, unknown>, options: ImageCallOptions, deadline: number): Promise<Prediction> => {
    const url = reference.version === undefined ? `${baseURL}/models/${reference.modelName}/predictions` : `${baseURL}/predictions`;
    const body = reference.version === undefined ? { input } : { version: reference.version, input };
    const headers: Record<string, string> = {};
    // Wait server-side for as much of the call's time as Replicate allows, keeping a second spare.
    const waitSeconds = Math.min(longestPreferWaitSeconds, Math.floor((deadline - Date.now()) / 1000) - 1);
    if (waitSeconds >= 1) headers['prefer'] = `wait=${waitSeconds}`;
    const response = await send(url, { method: 'POST', headers, json: body }, options.abortSignal, deadline);
    if (response.status !== 200 && response.status !== 201) throw errorFromUpstreamResponse(replicateProviderName, response, { secrets });
    return parsePrediction(response.body);
  };

  /** Polls until terminal; on abort or time-out the prediction is cancelled upstream so it stops costing money. */
  const waitForPrediction = async (job: JobUrls, options: ImageCallOptions, deadline: number): Promise<Prediction> => {
    const failures = transientFailureAllowance(transientPollFailuresAllowed);
    const step = async (): Promise<PollStepResult<Prediction>> => {
      let response: HttpResponse;
      try {
        response = await send(job.getUrl, { method: 'GET' }, options.abortSignal, deadline);
      } catch (error) {
        if (options.abortSignal.aborted) throw error;
        failures.rideOut(error);
        return { done: false };
      }
      if (response.status !== 200) {
        failures.rideOut(errorFromUpstreamResponse(replicateProviderName, response, { secrets }));
        return { done: false };
      }
      failures.reset();
      const prediction = parsePrediction(response.body);
      if (isTerminal(prediction.status)) return { done: true, value: prediction };
      const progress = progressFromLogs(prediction.logs);
      return progress === undefined ? { done: false } : { done: false, progress };
    };
    return cancelUpstreamOnAbortOrTimeout(
      () =>
        pollUntilDone(step, {
          intervalMs: pollIntervalMs,
          timeoutMs: Math.max(0, deadline - Date.now()),
          signal: options.abortSignal,
          provider: replicateProviderName,
          ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
        }),
      options.abortSignal,
      () => cancelBestEffort(job.cancelUrl),
    );
  };

  const resultOf = (prediction: Prediction, warnings: ProviderWarning[]): ImageCallResult => {
    switch (prediction.status) {
      case 'succeeded':
        return { images: imagesOf(prediction), warnings, upstreamRequestId: prediction.id };
      case 'failed':
        throw failureOf(prediction, upstreamModel, secrets);
      case 'canceled':
        throw new GatewayError('upstream_error', `The Replicate prediction ${prediction.id} was canceled upstream.`, { retryable: false });
      case 'aborted':
        throw new GatewayError('upstream_timeout', `The Replicate prediction ${prediction.id} was aborted: its deadline passed before it started.`);
      default:
        throw invalidUpstreamResponse(replicateProviderName, `the prediction is still ${prediction.status}`);
    }
  };

  const generate = async (options: ImageCallOptions): Promise<ImageCallResult> => {
    const deadline = Date.now() + timeoutMs;
    const { input, warnings } = buildInput(options);
    const created = await createPrediction(input, options, deadline);
    const job = jobUrlsOf(created);
    try {
      await options.onUpstreamJob?.({ provider: replicateProviderName, data: { id: job.id, get_url: job.getUrl, cancel_url: job.cancelUrl } });
    } catch (error) {
      // Nobody will look after an unrecorded job: stop it rather than pay for it.
      await cancelBestEffort(job.cancelUrl);
      throw error;
    }
    if (options.abortSignal.aborted && !isTerminal(created.status)) {
      await cancelBestEffort(job.cancelUrl);
      throw options.abortSignal.reason;
    }
    const finished = isTerminal(created.status) ? created : await waitForPrediction(job, options, deadline);
    return resultOf(finished, warnings);
  };

  const jobFromReference = (job: UpstreamJobRef): JobUrls => {
    const id = job.data['id'];
    const getUrl = job.data['get_url'];
    const cancelUrl = job.data['cancel_url'];
    if (job.provider !== replicateProviderName || typeof id !== 'string' || typeof getUrl !== 'string' || typeof cancelUrl !== 'string') {
      throw new GatewayError('server_error', 'The recorded upstream job is not a Replicate prediction.');
    }
    if (!sameOrigin(getUrl, baseURL) || !sameOrigin(cancelUrl, baseURL)) {
      throw new GatewayError('server_error', "The recorded Replicate prediction points outside the channel's API.");
    }
    return { id, getUrl, cancelUrl };
  };

  return {
    specificationVersion: 'v1',
    provider: replicateProviderName,
    modelId: upstreamModel,
    maxImagesPerCall,
    operations: ['generate'],
    generate,
    async resume(job, options) {
      const urls = jobFromReference(job);
      const finished = await waitForPrediction(urls, options, Date.now() + timeoutMs);
      return resultOf(finished, []);
    },
    async cancel(job) {
      await cancelBestEffort(jobFromReference(job).cancelUrl);
    },
  };
}

/** Options the FLUX models on Replicate have no input for: reported, never dropped in silence. */
function unsupportedOptionWarnings(options: ImageCallOptions): ProviderWarning[] {
  const warnings: ProviderWarning[] = [];
  if (options.quality !== undefined && options.quality !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'quality', message: 'Replicate models take no quality setting; quality was ignored.' });
  }
  if (options.style !== undefined) warnings.push({ type: 'unsupported', param: 'style', message: 'Replicate models take no style setting; style was ignored.' });
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'Replicate FLUX models cannot render a transparent background; the image is opaque.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: "Replicate applies its own safety checker; moderation was ignored." });
  }
  if (options.user !== undefined) warnings.push({ type: 'unsupported', param: 'user', message: 'Replicate takes no end-user identifier; user was not forwarded.' });
  return warnings;
}

function imagesOf(prediction: Prediction): ProviderImage[] {
  if (prediction.dataRemoved) {
    throw new GatewayError('upstream_error', `Replicate has already deleted the outputs of prediction ${prediction.id} (data_removed).`, { retryable: true });
  }
  const outputs = outputStrings(prediction.output);
  if (outputs === undefined) throw invalidUpstreamResponse(replicateProviderName, 'the output is neither a URL nor a list of URLs');
  if (outputs.length === 0) {
    throw new GatewayError('upstream_error', `The Replicate prediction ${prediction.id} succeeded without any image.`, { retryable: true });
  }
  // A short list (the safety checker dropped some) is passed on as it is; the core reports the shortfall.
  return outputs.map((output) => imageFromOutput(output));
}

function imageFromOutput(output: string): ProviderImage {
  if (output.startsWith('data:')) {
    const decoded = decodeBase64DataUri(output);
    if (decoded === undefined) throw invalidUpstreamResponse(replicateProviderName, 'an output data URI is not base64');
    return { kind: 'bytes', data: decoded.data, mediaType: decoded.mediaType ?? 'application/octet-stream' };
  }
  if (!/^https?:\/\//i.test(output)) throw invalidUpstreamResponse(replicateProviderName, 'an output is not a URL');
  return { kind: 'url', url: output };
}

/**
 * Replicate reports moderation only as failure text: "NSFW content detected" is the safety checker
 * looking at what was generated; E005 "flagged as sensitive" comes from the model provider and,
 * unless it names only the output, is about the input.
 */
export function moderationStageOf(errorText: string): 'input' | 'output' | undefined {
  if (/nsfw content detected/i.test(errorText)) return 'output';
  if (/\bE005\b|flagged as sensitive/i.test(errorText)) {
    return /\boutput\b/i.test(errorText) && !/\binput\b/i.test(errorText) ? 'output' : 'input';
  }
  return undefined;
}

function failureOf(prediction: Prediction, upstreamModel: string, secrets: string[]): GatewayError {
  const text = prediction.error ?? '';
  const stage = moderationStageOf(text);
  if (stage !== undefined) return moderationError({ provider: replicateProviderName, model: upstreamModel, stage });
  const detail = sanitizeUpstreamMessage(text, secrets);
  return new GatewayError('upstream_error', `The Replicate prediction ${prediction.id} failed${detail === '' ? '' : `: ${detail}`}`, {
    retryable: true,
    cause: { provider: replicateProviderName, upstreamRequestId: prediction.id, message: detail },
  });
}

/**
 * The size inputs a model's schema takes for the asked size, with a warning for every substitution
 * (issue 10 items 1, 8, 9): exact pixels through `aspect_ratio: "custom"` where the model has it,
 * otherwise the nearest ratio of the model's own list (and for FLUX schnell/dev the nearest of its
 * `megapixels` options).
 */
function sizeInput(options: ImageCallOptions, schema: ReplicateModelSchema, modelName: string, warnings: ProviderWarning[]): Record<string, unknown> {
  const asked = options.size;
  const askedText = `${asked.width}x${asked.height}`;
  const size = schema.size;
  if (size.kind === 'custom_pixels') {
    const mapped = mapSize({ size: asked, aspectRatio: options.aspectRatio }, { kind: 'pixels', multiple: size.multiple, minEdge: size.minEdge, maxEdge: size.maxEdge });
    warnings.push(...mapped.warnings);
    if (mapped.value.kind !== 'pixels') throw new Error('pixel spec mapped to something else');
    return { aspect_ratio: 'custom', width: mapped.value.width, height: mapped.value.height };
  }
  const ratio = nearestAspectRatio(asked, size.ratios);
  const shape = parseAspectRatio(ratio);
  let megapixels = size.kind === 'ratio' ? size.megapixels : 1;
  const input: Record<string, unknown> = { aspect_ratio: ratio };
  if (size.kind === 'ratio_megapixels') {
    // The option nearest the asked area (compared in log space), as a string: the schema's enum is "1", "0.25".
    const askedMegapixels = (asked.width * asked.height) / 1_048_576;
    // A client's own `megapixels` (a provider option, sent as given) decides; the warning reflects it.
    const given = options.providerOptions['megapixels'];
    const chosen = typeof given === 'string' && size.megapixels.includes(given) ? given : [...size.megapixels].sort((left, right) => Math.abs(Math.log(Number(left) / askedMegapixels)) - Math.abs(Math.log(Number(right) / askedMegapixels)))[0] ?? '1';
    megapixels = Number(chosen);
    // "1" is the schema's default: left out, so a client's own input (the Replicate dialect) reaches Replicate as it was sent.
    if (chosen !== '1') input['megapixels'] = chosen;
  }
  // What the model will render: about `megapixels` in the chosen ratio, edges on a 16-pixel grid.
  const area = megapixels * 1_048_576;
  const rendered = {
    width: Math.round(Math.sqrt((area * shape.width) / shape.height) / 16) * 16,
    height: Math.round(Math.sqrt((area * shape.height) / shape.width) / 16) * 16,
  };
  if (rendered.width !== asked.width || rendered.height !== asked.height) {
    const ratioNote = ratio === options.aspectRatio ? '' : `aspect ratio ${ratio} (nearest of ${size.ratios.join(', ')}), `;
    warnings.push({
      type: 'mapped',
      param: 'size',
      message: `size ${askedText} is not available for ${modelName}; using ${ratioNote}about ${megapixels} megapixel${megapixels === 1 ? '' : 's'} (${rendered.width}x${rendered.height}).`,
    });
  }
  return input;
}

/**
 * `output_format` (and `output_quality`) as the model's schema has them. A format the model lacks
 * (webp on Kontext/ultra) is asked for as lossless png and the gateway encodes the client's format,
 * with its compression, from it (issue 10 item 2).
 */
function formatInput(options: ImageCallOptions, schema: ReplicateModelSchema, warnings: ProviderWarning[]): Record<string, unknown> {
  // svg is offered for vector models only, none of which this adapter serves; png keeps it lossless.
  const wanted: ReplicateOutputFormat = options.outputFormat === 'jpeg' ? 'jpg' : options.outputFormat === 'svg' ? 'png' : options.outputFormat;
  const native = schema.outputFormats.includes(wanted) && (options.outputCompression === undefined || wanted === 'png' || schema.outputQuality);
  const input: Record<string, unknown> = { output_format: native ? wanted : 'png' };
  if (options.outputCompression !== undefined) {
    if (options.outputFormat === 'png') {
      warnings.push({ type: 'unsupported', param: 'output_compression', message: 'output_compression applies to jpeg and webp only; Replicate ignores it for png.' });
    } else if (native) {
      input['output_quality'] = options.outputCompression;
    }
  }
  return input;
}
