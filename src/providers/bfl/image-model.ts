// One BFL FLUX model as an ImageModel: builds the submit body, submits, records the job, polls the returned URL and hands back the signed sample URL.

import { GatewayError, isGatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation, ProviderWarning, UpstreamJobRef } from '../../core/ports/image-model.js';
import { pollUntilDone, type PollStepResult } from '../shared/poll.js';
import { transientFailureAllowance } from '../shared/queue-jobs.js';
import { mapSize } from '../shared/size-mapping.js';
import type { HttpClient, HttpResponse } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, moderationError, sanitizeUpstreamMessage } from '../shared/upstream-errors.js';
import { aspectRatiosFor, bflModelProfile, type BflModelProfile } from './models.js';
import { bflProviderName, parsePollResponse, parseSubmitResponse } from './wire.js';

export interface BflImageModelConfig {
  baseURL: string;
  apiKey: string;
  http: HttpClient;
  pollIntervalMs: number;
  timeoutMs: number;
}

/** Poll failures in a row (network, 5xx, 429) ridden out on a job that is already paid for; the next one gives up. */
const transientPollFailuresAllowed = 2;

/** What a submission sends, and what the client is told about options that were mapped or not honoured. */
interface BflRequestPlan {
  body: Record<string, unknown>;
  warnings: ProviderWarning[];
}

/** The recorded job: everything `resume` needs to find it again. */
interface BflJob {
  id: string;
  pollingUrl: string;
}

export function createBflImageModel(modelId: string, config: BflImageModelConfig): ImageModel {
  const profile = bflModelProfile(modelId);
  const operations: readonly ImageOperation[] = profile.maxInputImages > 0 ? ['generate', 'edit'] : ['generate'];
  const secrets = [config.apiKey];

  async function run(options: ImageCallOptions): Promise<ImageCallResult> {
    const plan = planRequest(modelId, profile, options);
    const job = await submit(plan.body, options);
    await recordJob(job, options);
    return finish(job, plan.warnings, options);
  }

  async function submit(body: Record<string, unknown>, options: ImageCallOptions): Promise<BflJob> {
    const response = await send(`${config.baseURL}/v1/${profile.endpoint}`, { method: 'POST', json: body }, options.abortSignal);
    if (response.status !== 200) throw errorFromUpstreamResponse(bflProviderName, response, { secrets });
    const submitted = parseSubmitResponse(response);
    if (!mayReceiveKey(submitted.pollingUrl, config.baseURL)) {
      throw new GatewayError('upstream_invalid_response', `${bflProviderName} returned a polling_url on a host outside BFL; not sending the API key there`, {
        retryable: false,
      });
    }
    return { id: submitted.id, pollingUrl: submitted.pollingUrl };
  }

  async function recordJob(job: BflJob, options: ImageCallOptions): Promise<void> {
    if (options.onUpstreamJob === undefined) return;
    try {
      await options.onUpstreamJob({ provider: bflProviderName, data: { id: job.id, polling_url: job.pollingUrl } });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw new GatewayError('server_error', 'Could not record the BFL job before polling it', { cause: error });
    }
  }

  async function finish(job: BflJob, warnings: ProviderWarning[], options: ImageCallOptions): Promise<ImageCallResult> {
    const failures = transientFailureAllowance(transientPollFailuresAllowed, isTransientPollFailure);
    const step = async (): Promise<PollStepResult<string>> => {
      let response: HttpResponse;
      try {
        // Verbatim: BFL answers with the shard host that holds the task, which may differ from the submit host.
        response = await send(job.pollingUrl, { method: 'GET' }, options.abortSignal);
        if (response.status !== 200) throw errorFromUpstreamResponse(bflProviderName, response, { secrets });
      } catch (error) {
        if (options.abortSignal.aborted) throw error;
        failures.rideOut(error);
        return { done: false };
      }
      failures.reset();
      return interpretPoll(job, response);
    };
    // BFL has no cancel endpoint: on abort polling simply stops (pollUntilDone throws the abort reason)
    // and the task finishes unseen at BFL, still billed.
    const sample = await pollUntilDone(step, {
      intervalMs: config.pollIntervalMs,
      timeoutMs: config.timeoutMs,
      signal: options.abortSignal,
      provider: bflProviderName,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    // The signed URL expires after 10 minutes; the core downloads it at once.
    return { images: [{ kind: 'url', url: sample }], warnings, upstreamRequestId: job.id };
  }

  function interpretPoll(job: BflJob, response: HttpResponse): PollStepResult<string> {
    const answer = parsePollResponse(response);
    switch (answer.status) {
      case 'Ready':
        return { done: true, value: answer.sample };
      case 'Pending':
        return answer.progress === undefined ? { done: false } : { done: false, progress: answer.progress };
      case 'other':
        // As the official SDK does (black-forest-labs/blackforest, src/bfl/_jobs.py: "Any
        // *unrecognized* status is treated as a failure and raised — never polled to the timeout"):
        // an unknown state is reported at once. Not retried: the task was accepted, and paid for.
        throw new GatewayError('upstream_invalid_response', `${bflProviderName} task ${job.id} reported an unknown status ${JSON.stringify(answer.upstreamStatus.slice(0, 60))}`, {
          retryable: false,
        });
      case 'Request Moderated':
        throw moderationError({ provider: bflProviderName, model: modelId, stage: 'input', reasons: answer.reasons });
      case 'Content Moderated':
        throw moderationError({ provider: bflProviderName, model: modelId, stage: 'output', reasons: answer.reasons });
      case 'Error': {
        const details = sanitizeUpstreamMessage(answer.details, secrets);
        // The task ran and failed at BFL; the same request is not expected to fare better.
        throw new GatewayError('upstream_error', `${bflProviderName} task ${job.id} failed${details === '' ? '' : `: ${details}`}`, { retryable: false });
      }
      case 'Task not found':
        throw new GatewayError('upstream_error', `${bflProviderName} no longer knows task ${job.id} (unknown or expired)`);
    }
  }

  async function send(url: string, request: { method: 'GET' | 'POST'; json?: unknown }, signal: AbortSignal): Promise<HttpResponse> {
    return requestUpstream(config.http, bflProviderName, url, {
      ...request,
      headers: { 'x-key': config.apiKey, accept: 'application/json' },
      signal,
    });
  }

  const model: ImageModel = {
    specificationVersion: 'v1',
    provider: bflProviderName,
    modelId,
    // BFL has no `n`: one task makes one image, and the core fans out.
    maxImagesPerCall: 1,
    operations,
    generate: run,
    async resume(job: UpstreamJobRef, options: ImageCallOptions): Promise<ImageCallResult> {
      const recorded = readJob(job);
      // Recomputed, not resubmitted: the warnings depend only on the request.
      const { warnings } = planRequest(modelId, profile, options);
      return finish(recorded, warnings, options);
    },
  };
  if (profile.maxInputImages > 0) model.edit = run;
  return model;
}

/** Network trouble, BFL 5xx and 429 while polling: the task is still running at BFL, so poll again. */
function isTransientPollFailure(error: unknown): boolean {
  if (!isGatewayError(error)) return false;
  return error.retryable && (error.code === 'upstream_error' || error.code === 'upstream_rate_limited' || error.code === 'upstream_timeout');
}

function readJob(job: UpstreamJobRef): BflJob {
  const id = job.data['id'];
  const pollingUrl = job.data['polling_url'];
  if (job.provider !== bflProviderName || typeof id !== 'string' || typeof pollingUrl !== 'string') {
    throw new GatewayError('server_error', 'The recorded upstream job is not a BFL task and cannot be resumed');
  }
  return { id, pollingUrl };
}

/**
 * Whether the x-key may go to this polling URL: BFL's own hosts (api.us1.bfl.ai …) and the
 * configured base host. Loopback counts as one host, for local fakes and proxies.
 */
function mayReceiveKey(pollingUrl: string, baseURL: string): boolean {
  const pollingHost = new URL(pollingUrl).hostname.toLowerCase();
  const baseHost = new URL(baseURL).hostname.toLowerCase();
  if (pollingHost === baseHost) return true;
  if (isLoopbackHost(pollingHost) && isLoopbackHost(baseHost)) return true;
  if (/(^|\.)bfl\.(ai|ml)$/.test(pollingHost)) return true;
  // A regional or proxy base (api.eu.example.com) may hand out sibling shard hosts of the same domain.
  return registrableSuffix(pollingHost) === registrableSuffix(baseHost) && !/^[\d.]+$|:/.test(baseHost);
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || /^127\.\d+\.\d+\.\d+$/.test(hostname) || hostname === '[::1]';
}

function registrableSuffix(hostname: string): string {
  return hostname.split('.').slice(-2).join('.');
}

/** Turns the gateway's call options into BFL's submit body, with a warning for everything not sent as asked. */
export function planRequest(modelId: string, profile: BflModelProfile, options: ImageCallOptions): BflRequestPlan {
  const warnings: ProviderWarning[] = [];
  const body: Record<string, unknown> = { prompt: options.prompt };

  if (profile.sizeSpec.kind === 'aspect_ratio') {
    const mapped = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, { kind: 'aspect_ratio', ratios: aspectRatiosFor(options.aspectRatio) });
    if (mapped.value.kind === 'aspect_ratio') body['aspect_ratio'] = mapped.value.aspectRatio;
    warnings.push(...mapped.warnings);
    const asked = options.size.width * options.size.height;
    const native = profile.nativePixels;
    // These models choose their own resolution; say so when it is far from what was asked.
    if (native !== undefined && Math.abs(Math.log(asked / native)) > Math.log(1.15)) {
      warnings.push({
        type: 'mapped',
        param: 'size',
        message: `${modelId} renders about ${(native / 1_000_000).toFixed(1)} MP at the aspect ratio it is given; ${options.size.width}x${options.size.height} cannot be asked for exactly.`,
      });
    }
  } else {
    const mapped = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, profile.sizeSpec);
    if (mapped.value.kind === 'pixels') {
      body['width'] = mapped.value.width;
      body['height'] = mapped.value.height;
    }
    warnings.push(...mapped.warnings);
  }

  if (options.seed !== undefined) body['seed'] = options.seed;

  // BFL writes jpeg or png only; for webp it is asked for lossless png and the core converts.
  if (options.outputFormat === 'webp') {
    body['output_format'] = 'png';
    warnings.push({ type: 'mapped', param: 'output_format', message: 'BFL produces jpeg or png only; png was requested and the gateway converts it to webp.' });
  } else {
    body['output_format'] = options.outputFormat;
  }

  addInputImages(modelId, profile, options, body);
  if (options.mask !== undefined) {
    warnings.push({ type: 'unsupported', param: 'mask', message: `${modelId} edits from the prompt and has no mask input; the mask was ignored.` });
  }

  if (options.quality !== undefined && options.quality !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'quality', message: `BFL has no quality setting; quality '${options.quality}' was ignored.` });
  }
  if (options.style !== undefined) {
    warnings.push({ type: 'unsupported', param: 'style', message: `BFL has no style setting; style '${options.style}' was ignored.` });
  }
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'BFL cannot make transparent images; the image has an opaque background.' });
  }
  if (options.outputCompression !== undefined) {
    warnings.push({ type: 'unsupported', param: 'output_compression', message: 'BFL has no compression setting; output_compression was not sent upstream.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({
      type: 'unsupported',
      param: 'moderation',
      message: `BFL has no moderation level; send safety_tolerance instead. moderation '${options.moderation}' was ignored.`,
    });
  }
  if (options.user !== undefined) {
    warnings.push({ type: 'unsupported', param: 'user', message: 'BFL has no end-user field; user was not sent upstream.' });
  }

  // Fields in BFL's own spelling (safety_tolerance, prompt_upsampling, raw, steps, guidance …) go
  // through as sent, and win over the mapped values above because the client asked for them by name.
  Object.assign(body, options.providerOptions);
  return { body, warnings };
}

/** input_image, input_image_2 … input_image_N, base64 without a data: prefix, as BFL takes them. */
function addInputImages(modelId: string, profile: BflModelProfile, options: ImageCallOptions, body: Record<string, unknown>): void {
  if (options.images.length === 0) return;
  if (options.images.length > profile.maxInputImages) {
    const limit = profile.maxInputImages === 0 ? 'takes no input images' : `takes at most ${profile.maxInputImages} input images`;
    throw new GatewayError('invalid_value', `${modelId} ${limit}; ${options.images.length} were given.`, { param: 'image' });
  }
  options.images.forEach((image, index) => {
    body[index === 0 ? 'input_image' : `input_image_${index + 1}`] = image.data.toString('base64');
  });
}
