// One DashScope model as an ImageModel: the asynchronous task API (submit, record the task id, poll
// /api/v1/tasks/{id}) or the synchronous multimodal-generation call, by the model's family.

import { GatewayError, isGatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation, ProviderImage, ProviderWarning, UpstreamJobRef } from '../../core/ports/image-model.js';
import { pollUntilDone, type PollStepResult } from '../shared/poll.js';
import { cancelUpstreamOnAbortOrTimeout, transientFailureAllowance } from '../shared/queue-jobs.js';
import { mapSize } from '../shared/size-mapping.js';
import type { HttpClient, HttpResponse } from '../shared/types.js';
import { requestUpstream } from '../shared/upstream-errors.js';
import { dashScopeModelProfile, type DashScopeModelProfile } from './models.js';
import {
  dashScopeProviderName,
  errorFromDashScopeResponse,
  errorFromTaskFailure,
  parseGenerationAnswer,
  parseSubmitAnswer,
  parseTaskAnswer,
  type DashScopeImageResult,
} from './wire.js';

export interface DashScopeImageModelConfig {
  /** Host root, e.g. https://dashscope-intl.aliyuncs.com (no /api/v1). */
  baseURL: string;
  apiKey: string;
  http: HttpClient;
  pollIntervalMs: number;
  timeoutMs: number;
  /** Sent as X-DashScope-WorkSpace when the key belongs to a non-default workspace. */
  workspace?: string;
}

const text2imagePath = '/api/v1/services/aigc/text2image/image-synthesis';
const multimodalPath = '/api/v1/services/aigc/multimodal-generation/generation';

/** Poll failures in a row (network, 5xx, 429) ridden out on a task that is already paid for. */
const transientPollFailuresAllowed = 2;

/** "seed: [0, 2147483647]" on every image model (qwen-image-api, text-to-image-v2-api-reference). */
const maxSeed = 2_147_483_647;

/**
 * Provider options that belong in `input` on the task API; everything else the client sends in
 * DashScope's spelling (prompt_extend, watermark, negative_prompt on the messages protocol …) goes
 * into `parameters`.
 */
const text2imageInputFields = new Set(['negative_prompt']);

interface DashScopePlan {
  body: Record<string, unknown>;
  warnings: ProviderWarning[];
}

export function createDashScopeImageModel(modelId: string, config: DashScopeImageModelConfig): ImageModel {
  const profile = dashScopeModelProfile(modelId);
  const operations: ImageOperation[] = [];
  if (profile.generates) operations.push('generate');
  if (profile.maxInputImages > 0) operations.push('edit');
  const secrets = [config.apiKey];

  function headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      authorization: `Bearer ${config.apiKey}`,
      accept: 'application/json',
      ...(config.workspace === undefined ? {} : { 'x-dashscope-workspace': config.workspace }),
      ...extra,
    };
  }

  async function send(url: string, request: { method: 'GET' | 'POST'; json?: unknown; headers?: Record<string, string> }, signal: AbortSignal): Promise<HttpResponse> {
    return requestUpstream(config.http, dashScopeProviderName, url, { method: request.method, ...(request.json === undefined ? {} : { json: request.json }), headers: headers(request.headers), signal });
  }

  async function run(options: ImageCallOptions): Promise<ImageCallResult> {
    const plan = planRequest(modelId, profile, options);
    if (profile.protocol === 'multimodal') return generateSynchronously(plan, options);
    const taskId = await submit(plan.body, options);
    await recordTask(taskId, options);
    return finish(taskId, plan.warnings, options);
  }

  async function generateSynchronously(plan: DashScopePlan, options: ImageCallOptions): Promise<ImageCallResult> {
    const response = await send(`${config.baseURL}${multimodalPath}`, { method: 'POST', json: plan.body }, options.abortSignal);
    if (response.status !== 200) throw errorFromDashScopeResponse(response, modelId, secrets);
    const images = parseGenerationAnswer(response);
    return { images: images.map(toProviderImage), warnings: plan.warnings, ...requestIdOf(response) };
  }

  async function submit(body: Record<string, unknown>, options: ImageCallOptions): Promise<string> {
    // The task route takes no synchronous calls: "X-DashScope-Async … must be set to enable".
    const response = await send(`${config.baseURL}${text2imagePath}`, { method: 'POST', json: body, headers: { 'x-dashscope-async': 'enable' } }, options.abortSignal);
    if (response.status !== 200) throw errorFromDashScopeResponse(response, modelId, secrets);
    return parseSubmitAnswer(response);
  }

  async function recordTask(taskId: string, options: ImageCallOptions): Promise<void> {
    if (options.onUpstreamJob === undefined) return;
    try {
      await options.onUpstreamJob({ provider: dashScopeProviderName, data: { task_id: taskId } });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw new GatewayError('server_error', 'Could not record the DashScope task before polling it', { cause: error });
    }
  }

  async function finish(taskId: string, warnings: ProviderWarning[], options: ImageCallOptions): Promise<ImageCallResult> {
    const failures = transientFailureAllowance(transientPollFailuresAllowed);
    const step = async (): Promise<PollStepResult<ImageCallResult>> => {
      let response: HttpResponse;
      try {
        response = await send(`${config.baseURL}/api/v1/tasks/${encodeURIComponent(taskId)}`, { method: 'GET' }, options.abortSignal);
        if (response.status !== 200) throw errorFromDashScopeResponse(response, modelId, secrets);
      } catch (error) {
        if (options.abortSignal.aborted) throw error;
        failures.rideOut(error);
        return { done: false };
      }
      failures.reset();
      return interpretTask(taskId, response, warnings);
    };
    return cancelUpstreamOnAbortOrTimeout(
      () =>
        pollUntilDone(step, {
          intervalMs: config.pollIntervalMs,
          timeoutMs: config.timeoutMs,
          signal: options.abortSignal,
          provider: dashScopeProviderName,
          ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
        }),
      options.abortSignal,
      () => cancelTask(taskId),
    );
  }

  function interpretTask(taskId: string, response: HttpResponse, warnings: ProviderWarning[]): PollStepResult<ImageCallResult> {
    const answer = parseTaskAnswer(response);
    switch (answer.status) {
      case 'PENDING':
      case 'RUNNING':
        return { done: false };
      case 'SUCCEEDED': {
        const [firstFailure] = answer.failures;
        if (answer.images.length === 0) {
          if (firstFailure !== undefined) throw errorFromTaskFailure(firstFailure, modelId, taskId, secrets);
          throw new GatewayError('upstream_invalid_response', `${dashScopeProviderName} task ${taskId} succeeded without a result URL`, { retryable: false });
        }
        const partial: ProviderWarning[] =
          firstFailure === undefined
            ? []
            : [{ type: 'other', message: `${dashScopeProviderName} made ${answer.images.length} of ${answer.images.length + answer.failures.length} images; the others failed (${firstFailure.code}).` }];
        // Result URLs expire after 24 hours; the core downloads them at once through the guarded client.
        return { done: true, value: { images: answer.images.map(toProviderImage), warnings: [...warnings, ...partial], upstreamRequestId: taskId } };
      }
      case 'FAILED':
        throw errorFromTaskFailure(answer.failure, modelId, taskId, secrets);
      case 'CANCELED':
        throw new GatewayError('upstream_error', `${dashScopeProviderName} task ${taskId} was cancelled upstream`, { retryable: false });
      case 'UNKNOWN':
        // "UNKNOWN: the task does not exist or its status is unknown"; tasks are kept 24 hours.
        throw new GatewayError('upstream_error', `${dashScopeProviderName} no longer knows task ${taskId} (unknown, or older than the 24 hours tasks are kept)`, {
          retryable: false,
        });
      case 'other':
        throw new GatewayError('upstream_invalid_response', `${dashScopeProviderName} task ${taskId} reported an unknown status ${JSON.stringify(answer.upstreamStatus.slice(0, 60))}`, {
          retryable: false,
        });
    }
  }

  /** `POST /api/v1/tasks/{task_id}/cancel` works only while the task is PENDING; best effort. */
  async function cancelTask(taskId: string): Promise<void> {
    try {
      await config.http.request(`${config.baseURL}/api/v1/tasks/${encodeURIComponent(taskId)}/cancel`, {
        method: 'POST',
        headers: headers(),
        signal: AbortSignal.timeout(5_000),
      });
    } catch {
      // Nothing more to do: the task runs out at DashScope.
    }
  }

  const model: ImageModel = {
    specificationVersion: 'v1',
    provider: dashScopeProviderName,
    modelId,
    maxImagesPerCall: profile.maxImagesPerCall,
    operations,
    generate: run,
  };
  if (profile.maxInputImages > 0) model.edit = run;
  if (profile.protocol === 'text2image') {
    model.resume = async (job: UpstreamJobRef, options: ImageCallOptions): Promise<ImageCallResult> => {
      const taskId = readTaskId(job);
      // Recomputed, not resubmitted: the warnings depend only on the request.
      const { warnings } = planRequest(modelId, profile, options);
      return finish(taskId, warnings, options);
    };
    model.cancel = async (job: UpstreamJobRef): Promise<void> => cancelTask(readTaskId(job));
  }
  return model;
}

function toProviderImage(result: DashScopeImageResult): ProviderImage {
  return { kind: 'url', url: result.url, ...(result.actualPrompt === undefined ? {} : { revisedPrompt: result.actualPrompt }) };
}

function requestIdOf(response: HttpResponse): { upstreamRequestId?: string } {
  try {
    const body = JSON.parse(response.body.toString('utf8')) as { request_id?: unknown };
    return typeof body.request_id === 'string' ? { upstreamRequestId: body.request_id } : {};
  } catch {
    return {};
  }
}

function readTaskId(job: UpstreamJobRef): string {
  const taskId = job.data['task_id'];
  if (job.provider !== dashScopeProviderName || typeof taskId !== 'string' || !/^[A-Za-z0-9-]{1,128}$/.test(taskId)) {
    throw new GatewayError('server_error', 'The recorded upstream job is not a DashScope task and cannot be resumed');
  }
  return taskId;
}

/** Turns the gateway's call options into DashScope's body, with a warning for everything not sent as asked. */
export function planRequest(modelId: string, profile: DashScopeModelProfile, options: ImageCallOptions): DashScopePlan {
  const warnings: ProviderWarning[] = [];
  const parameters: Record<string, unknown> = {};
  const extraInput: Record<string, unknown> = {};

  if (profile.sizeSpec !== undefined) {
    const mapped = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, profile.sizeSpec);
    // DashScope writes sizes with `*`: "1024*1024".
    if (mapped.value.kind === 'pixels') parameters['size'] = `${mapped.value.width}*${mapped.value.height}`;
    warnings.push(...mapped.warnings);
  } else if (options.images[0] !== undefined && (options.images[0].width !== options.size.width || options.images[0].height !== options.size.height)) {
    warnings.push({ type: 'unsupported', param: 'size', message: `${modelId} keeps the size of the input image; size ${options.size.width}x${options.size.height} was not sent.` });
  }

  parameters['n'] = options.n;
  if (options.seed !== undefined) {
    if (Number.isInteger(options.seed) && options.seed >= 0 && options.seed <= maxSeed) parameters['seed'] = options.seed;
    else warnings.push({ type: 'unsupported', param: 'seed', message: `DashScope takes seeds from 0 to ${maxSeed}; seed ${options.seed} was not sent.` });
  }

  if (options.outputFormat !== 'png') {
    warnings.push({ type: 'mapped', param: 'output_format', message: `DashScope renders PNG; the gateway converts it to ${options.outputFormat}.` });
  }
  if (options.mask !== undefined) {
    warnings.push({ type: 'unsupported', param: 'mask', message: `${modelId} edits from the prompt and has no mask input; the mask was ignored.` });
  }
  if (options.quality !== undefined && options.quality !== 'auto' && options.quality !== 'standard') {
    warnings.push({ type: 'unsupported', param: 'quality', message: `DashScope has no quality setting; quality '${options.quality}' was ignored.` });
  }
  if (options.style !== undefined) {
    warnings.push({ type: 'unsupported', param: 'style', message: `DashScope has no style setting; style '${options.style}' was ignored.` });
  }
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'DashScope cannot make transparent images; the image has an opaque background.' });
  }
  if (options.outputCompression !== undefined) {
    warnings.push({ type: 'unsupported', param: 'output_compression', message: 'DashScope has no compression setting; output_compression was not sent upstream.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: `DashScope's content moderation has no levels; moderation '${options.moderation}' was ignored.` });
  }
  if (options.user !== undefined) {
    warnings.push({ type: 'unsupported', param: 'user', message: 'DashScope has no end-user field; user was not sent upstream.' });
  }

  // Fields in DashScope's own spelling (prompt_extend, watermark, negative_prompt …) go through as
  // sent and win over the mapped values above, because the client asked for them by name.
  for (const [key, value] of Object.entries(options.providerOptions)) {
    if (profile.protocol === 'text2image' && text2imageInputFields.has(key)) extraInput[key] = value;
    else parameters[key] = value;
  }

  if (options.images.length > profile.maxInputImages) {
    const limit = profile.maxInputImages === 0 ? 'takes no input images' : `takes at most ${profile.maxInputImages} input images`;
    throw new GatewayError('invalid_value', `${modelId} ${limit}; ${options.images.length} were given.`, { param: 'image' });
  }
  if (!profile.generates && options.images.length === 0) {
    throw new GatewayError('invalid_value', `${modelId} edits images only: send it to /v1/images/edits with at least one image.`, { param: 'image' });
  }

  if (profile.protocol === 'text2image') {
    return { body: { model: modelId, input: { prompt: options.prompt, ...extraInput }, parameters }, warnings };
  }
  // "content: [{image}…, {text}]": the images in order (image 1, image 2 …), then exactly one text,
  // each image as a data URL ("data:{MIME_type};base64,{base64_data}").
  const content: Record<string, unknown>[] = options.images.map((image) => ({ image: `data:${image.mediaType};base64,${image.data.toString('base64')}` }));
  content.push({ text: options.prompt });
  return { body: { model: modelId, input: { messages: [{ role: 'user', content }] }, parameters }, warnings };
}
