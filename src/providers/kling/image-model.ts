// One Kling image model as an ImageModel: builds the create-task body, submits it with a fresh JWT,
// records the task id, polls GET /v1/images/generations/{task_id} and hands back the result URLs.

import sharp from 'sharp';
import { GatewayError, isGatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation, InputImage, ProviderWarning, UpstreamJobRef } from '../../core/ports/image-model.js';
import { pollUntilDone, type PollStepResult } from '../shared/poll.js';
import { transientFailureAllowance } from '../shared/queue-jobs.js';
import { mapSize } from '../shared/size-mapping.js';
import type { HttpClient, HttpResponse } from '../shared/types.js';
import { requestUpstream, moderationError, sanitizeUpstreamMessage } from '../shared/upstream-errors.js';
import { createKlingTokenSource, parseKlingCredentials } from './auth.js';
import { klingModelProfile, klingSizeSpec, type KlingModelProfile } from './models.js';
import { isRiskControlFailure, klingProviderName, readTaskAnswer, type KlingTask } from './wire.js';

export interface KlingImageModelConfig {
  baseURL: string;
  /** `<access key>:<secret key>`. */
  apiKey: string;
  http: HttpClient;
  pollIntervalMs: number;
  timeoutMs: number;
}

/** "n: 生成图片数量, 取值范围：[1,9]". */
export const klingMaxImagesPerTask = 9;
/** Poll failures in a row (network, 5xx, 429) ridden out on a task that is already paid for. */
const transientPollFailuresAllowed = 3;

/**
 * Reference image rules ("image" field): ".jpg / .jpeg / .png", "不超过10MB", "宽高尺寸不小于300px",
 * "宽高比要介于1:2.5 ~ 2.5:1之间"; base64 "without the data: prefix".
 */
const referenceLimits = { minEdge: 300, maxRatio: 2.5, maxBytes: 10 * 1024 * 1024 } as const;

export function createKlingImageModel(modelId: string, config: KlingImageModelConfig): ImageModel {
  const profile = klingModelProfile(modelId);
  const credentials = parseKlingCredentials(config.apiKey);
  const token = createKlingTokenSource(credentials);
  const secrets = [config.apiKey, credentials.accessKey, credentials.secretKey];
  const operations: readonly ImageOperation[] = profile.reference === 'none' ? ['generate'] : ['generate', 'edit'];

  async function run(options: ImageCallOptions): Promise<ImageCallResult> {
    const plan = await planKlingRequest(profile, options);
    const submitted = await send('POST', `${config.baseURL}/v1/images/generations`, options.abortSignal, plan.body);
    const task = readTaskAnswer(submitted, { model: modelId, secrets });
    await recordJob(task.taskId, options);
    return finish(task.taskId, plan.warnings, options);
  }

  async function recordJob(taskId: string, options: ImageCallOptions): Promise<void> {
    if (options.onUpstreamJob === undefined) return;
    try {
      await options.onUpstreamJob({ provider: klingProviderName, data: { task_id: taskId } });
    } catch (error) {
      if (isGatewayError(error)) throw error;
      throw new GatewayError('server_error', 'Could not record the Kling task before polling it', { cause: error });
    }
  }

  async function finish(taskId: string, warnings: ProviderWarning[], options: ImageCallOptions): Promise<ImageCallResult> {
    const failures = transientFailureAllowance(transientPollFailuresAllowed);
    const step = async (): Promise<PollStepResult<string[]>> => {
      let task: KlingTask;
      try {
        const response = await send('GET', `${config.baseURL}/v1/images/generations/${encodeURIComponent(taskId)}`, options.abortSignal);
        task = readTaskAnswer(response, { model: modelId, secrets });
      } catch (error) {
        if (options.abortSignal.aborted) throw error;
        failures.rideOut(error);
        return { done: false };
      }
      failures.reset();
      return interpret(task);
    };
    // Kling has no cancel for image tasks: on abort polling stops, and the task finishes unseen (still billed).
    const urls = await pollUntilDone(step, {
      intervalMs: config.pollIntervalMs,
      timeoutMs: config.timeoutMs,
      signal: options.abortSignal,
      provider: klingProviderName,
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    });
    const images = urls.slice(0, options.n).map((url) => ({ kind: 'url' as const, url }));
    // The URLs are kept by Kling for 30 days ("生成的图片/视频会在30天后被清理"); the core downloads them at once.
    return { images, warnings, upstreamRequestId: taskId };
  }

  function interpret(task: KlingTask): PollStepResult<string[]> {
    switch (task.status) {
      case 'submitted':
        return { done: false };
      case 'processing':
        return { done: false };
      case 'succeed':
        if (task.imageUrls.length === 0) throw new GatewayError('upstream_invalid_response', `${klingProviderName} task ${task.taskId} succeeded without images`, { retryable: false });
        return { done: true, value: task.imageUrls };
      case 'failed': {
        const reason = sanitizeUpstreamMessage(task.statusMessage, secrets);
        if (isRiskControlFailure(reason)) throw moderationError({ provider: klingProviderName, model: modelId, stage: 'output', reasons: [reason] });
        // The task ran and failed at Kling (failed tasks are not billed); the same request is not expected to fare better.
        throw new GatewayError('upstream_error', `${klingProviderName} task ${task.taskId} failed${reason === '' ? '' : `: ${reason}`}`, { retryable: false });
      }
      case 'other':
        throw new GatewayError('upstream_invalid_response', `${klingProviderName} task ${task.taskId} reported an unknown status ${JSON.stringify(task.upstreamStatus.slice(0, 40))}`, { retryable: false });
    }
  }

  async function send(method: 'GET' | 'POST', url: string, signal: AbortSignal, json?: unknown): Promise<HttpResponse> {
    const authorization = `Bearer ${await token()}`;
    return requestUpstream(config.http, klingProviderName, url, {
      method,
      ...(json === undefined ? {} : { json }),
      headers: { authorization, accept: 'application/json' },
      signal,
    });
  }

  const model: ImageModel = {
    specificationVersion: 'v1',
    provider: klingProviderName,
    modelId,
    maxImagesPerCall: klingMaxImagesPerTask,
    operations,
    generate: run,
    async resume(job: UpstreamJobRef, options: ImageCallOptions): Promise<ImageCallResult> {
      const taskId = job.data['task_id'];
      if (job.provider !== klingProviderName || typeof taskId !== 'string' || taskId === '') {
        throw new GatewayError('server_error', 'The recorded upstream job is not a Kling task and cannot be resumed');
      }
      // Recomputed, not resubmitted: the warnings depend only on the request.
      const { warnings } = await planKlingRequest(profile, options);
      return finish(taskId, warnings, options);
    },
  };
  if (profile.reference !== 'none') model.edit = run;
  return model;
}

export interface KlingRequestPlan {
  body: Record<string, unknown>;
  warnings: ProviderWarning[];
}

/** Fields the gateway sets itself; a provider option of the same name would change what is billed or sent. */
const reservedFields = new Set(['model_name', 'model', 'prompt', 'n', 'image', 'callback_url']);

/** Turns the gateway's call options into Kling's create-task body, with a warning for everything not sent as asked. */
export async function planKlingRequest(profile: KlingModelProfile, options: ImageCallOptions): Promise<KlingRequestPlan> {
  const warnings: ProviderWarning[] = [];
  const withImage = options.images.length > 0;
  const body: Record<string, unknown> = { model_name: profile.modelName, prompt: options.prompt, n: options.n };

  const mapped = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, klingSizeSpec(profile, withImage));
  if (mapped.value.kind === 'tier') {
    body['aspect_ratio'] = mapped.value.aspectRatio;
    body['resolution'] = mapped.value.tier;
  }
  warnings.push(...mapped.warnings);

  if (withImage) {
    if (profile.reference === 'none') throw new GatewayError('invalid_value', `${profile.modelName} takes no input image.`, { param: 'image' });
    if (options.images.length > 1) {
      throw new GatewayError('invalid_value', `${profile.modelName} takes one reference image; ${options.images.length} were given.`, { param: 'image' });
    }
    const [image] = options.images as [InputImage];
    body['image'] = await referenceImage(image, warnings);
    // "当使用kling-v1-5且image参数不为空时，当前参数必填": subject (character features) unless the client chose face.
    if (profile.reference === 'subject_or_face') body['image_reference'] = 'subject';
  }
  if (options.mask !== undefined) {
    warnings.push({ type: 'unsupported', param: 'mask', message: `${profile.modelName} has no mask input; the mask was ignored and the image used as a reference.` });
  }
  if (options.seed !== undefined) warnings.push({ type: 'unsupported', param: 'seed', message: 'Kling has no seed; seed was not sent upstream.' });
  if (options.quality !== undefined && options.quality !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'quality', message: `Kling has no quality setting; quality '${options.quality}' was ignored.` });
  }
  if (options.style !== undefined) warnings.push({ type: 'unsupported', param: 'style', message: `Kling has no style setting; style '${options.style}' was ignored.` });
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: 'Kling cannot make transparent images; the image has an opaque background.' });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: `Kling has no moderation level; moderation '${options.moderation}' was ignored.` });
  }
  if (options.user !== undefined) warnings.push({ type: 'unsupported', param: 'user', message: 'Kling has no end-user field; user was not sent upstream.' });

  // Kling's own fields (negative_prompt, image_reference, image_fidelity, human_fidelity, resolution,
  // aspect_ratio, watermark_info, external_task_id …) go through as sent and win over the mapped ones.
  for (const [name, value] of Object.entries(options.providerOptions)) {
    if (reservedFields.has(name)) {
      warnings.push({ type: 'unsupported', param: name, message: `${name} is set by the gateway and was not passed to Kling.` });
      continue;
    }
    body[name] = value;
  }
  return { body, warnings };
}

/** The reference as Kling takes it: jpg or png base64, no data: prefix, within its size and shape limits. */
async function referenceImage(image: InputImage, warnings: ProviderWarning[]): Promise<string> {
  const shortEdge = Math.min(image.width, image.height);
  const ratio = Math.max(image.width, image.height) / shortEdge;
  if (shortEdge < referenceLimits.minEdge) {
    throw new GatewayError('invalid_value', `Kling needs a reference image at least ${referenceLimits.minEdge}px on each side; got ${image.width}x${image.height}.`, { param: 'image' });
  }
  if (ratio > referenceLimits.maxRatio + 1e-9) {
    throw new GatewayError('invalid_value', `Kling needs a reference image between 1:2.5 and 2.5:1; got ${image.width}x${image.height}.`, { param: 'image' });
  }
  let data = image.data;
  if (image.mediaType !== 'image/png' && image.mediaType !== 'image/jpeg') {
    // Kling reads .jpg/.jpeg/.png only; webp and gif go as lossless png.
    data = await sharp(image.data).png().toBuffer();
    warnings.push({ type: 'mapped', param: 'image', message: `Kling takes jpeg or png references; the ${image.mediaType} image was sent as png.` });
  }
  if (data.length > referenceLimits.maxBytes) {
    throw new GatewayError('invalid_value', `Kling takes reference images of at most 10 MB; this one is ${data.length} bytes.`, { param: 'image' });
  }
  return data.toString('base64');
}
