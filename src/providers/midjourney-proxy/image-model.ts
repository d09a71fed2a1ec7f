// midjourney-proxy as an image model: an IMAGINE (or, with `mj_action`, a button pressed on an
// earlier upstream task through `/mj/submit/action`) is submitted, its upstream task id recorded at
// once (a restart polls it instead of submitting again), then watched through the channel's shared
// poller (one list-by-condition per interval for all tasks in flight). The finished task's imageUrl
// (the 2×2 grid of an IMAGINE, the single image of an upscale) is downloaded at once — Discord CDN
// links expire — and the upstream's buttons are recorded with the job, so a client can press them.

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, UpstreamJobRef } from '../../core/ports/image-model.js';
import { transientFailureAllowance } from '../shared/queue-jobs.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, invalidUpstreamResponse } from '../shared/upstream-errors.js';
import { pollerFor, type TaskPoller } from './poller.js';
import { failureError, midjourneyProxyProviderName, parseSubmitAnswer, terminalStatuses, type MjButton, type MjTask } from './wire.js';

export const midjourneyProxyDefaultBaseURL = 'http://127.0.0.1:8080';
const defaultPollIntervalMs = 3_000;
/** midjourney-proxy fails its own tasks after `timeoutMinutes` (5 by default, TaskTimeoutSchedule); a relay in between may hold them longer. */
const defaultStuckTimeoutMs = 15 * 60_000;
const maxImageBytes = 50 * 1024 * 1024;

/** A button pressed on an earlier upstream task (set by the /mj dialect; `taskId` is the upstream's id). */
export interface MjActionOption {
  customId: string;
  taskId: string;
}

/** What the task records: the upstream task, when the gateway first saw it, and once finished its buttons. */
export interface MjJobData {
  id: string;
  startedAt: number;
  action?: string;
  buttons?: MjButton[];
}

function actionOption(value: unknown): MjActionOption | undefined {
  if (value === undefined) return undefined;
  const option = value as Partial<MjActionOption> | null;
  if (typeof option !== 'object' || option === null || typeof option.customId !== 'string' || typeof option.taskId !== 'string' || option.customId.length > 400 || option.taskId.length > 100) {
    throw new GatewayError('invalid_value', "'mj_action' takes {customId, taskId} of an upstream midjourney-proxy task.", { param: 'mj_action' });
  }
  return { customId: option.customId, taskId: option.taskId };
}

/** Midjourney reads the aspect ratio from the prompt; a request that asked for one by size gets `--ar`. */
function promptWithRatio(prompt: string, aspectRatio: string): string {
  if (aspectRatio === '1:1' || /(^|\s)--(ar|aspect)\s/i.test(prompt)) return prompt;
  return `${prompt} --ar ${aspectRatio}`;
}

export function createMidjourneyProxyImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const baseURL = (settings.baseURL || midjourneyProxyDefaultBaseURL).replace(/\/+$/, '').replace(/\/mj$/, '');
  const headers: Record<string, string> = settings.apiKey === '' ? {} : { 'mj-api-secret': settings.apiKey };
  const stuckOption = settings.options?.['stuck_timeout_ms'];
  if (stuckOption !== undefined && (typeof stuckOption !== 'number' || !Number.isInteger(stuckOption) || stuckOption < 1)) {
    throw new TypeError(`channel ${settings.channel}: options.stuck_timeout_ms must be a positive integer (milliseconds)`);
  }
  const stuckTimeoutMs = (stuckOption as number | undefined) ?? settings.timeoutMs ?? defaultStuckTimeoutMs;
  const now = (): number => settings.clock?.now() ?? Date.now();
  const poller = (): TaskPoller => pollerFor({ baseURL, secret: settings.apiKey, http: settings.http, intervalMs: settings.pollIntervalMs ?? defaultPollIntervalMs });

  async function send(path: string, json: unknown, signal: AbortSignal): Promise<HttpResponse> {
    return requestUpstream(settings.http, midjourneyProxyProviderName, `${baseURL}${path}`, { method: 'POST', json, headers, signal, timeoutMs: 60_000, maxBytes: 1024 * 1024 });
  }

  async function submit(options: ImageCallOptions): Promise<MjJobData> {
    const action = actionOption(options.providerOptions['mj_action']);
    const [path, body] =
      action !== undefined
        ? ['/mj/submit/action', { customId: action.customId, taskId: action.taskId }]
        : [
            '/mj/submit/imagine',
            {
              prompt: promptWithRatio(options.prompt, options.aspectRatio),
              ...(options.images.length === 0 ? {} : { base64Array: options.images.slice(0, 5).map((image) => `data:${image.mediaType};base64,${image.data.toString('base64')}`) }),
            },
          ];
    const response = await send(path, body, options.abortSignal);
    if (response.status !== 200) throw errorFromUpstreamResponse(midjourneyProxyProviderName, response, { secrets: [settings.apiKey] });
    return { id: parseSubmitAnswer(response.body, modelId), startedAt: now(), action: action === undefined ? 'IMAGINE' : 'ACTION' };
  }

  async function waitForTask(job: MjJobData, options: ImageCallOptions): Promise<MjTask> {
    const allowance = transientFailureAllowance(5);
    let unknownPolls = 0;
    for (;;) {
      let task: MjTask | undefined;
      try {
        task = await poller().observe(job.id, options.abortSignal);
        allowance.reset();
      } catch (error) {
        if (options.abortSignal.aborted) throw options.abortSignal.reason;
        allowance.rideOut(error);
      }
      if (task !== undefined && terminalStatuses.has(task.status)) return task;
      if (task === undefined) {
        // A task the upstream has lost (its store was wiped) will never finish.
        if (++unknownPolls > 20) throw new GatewayError('upstream_error', `${midjourneyProxyProviderName} no longer knows task ${job.id}.`, { retryable: false });
      } else {
        unknownPolls = 0;
        if (task.progress !== undefined) options.onProgress?.(Math.min(99, Math.max(0, task.progress)));
      }
      if (now() - job.startedAt > stuckTimeoutMs) {
        // Not retried elsewhere: the upstream accepted it, so another submission could be a second charge.
        throw new GatewayError('upstream_timeout', `${midjourneyProxyProviderName} task ${job.id} did not finish within ${Math.round(stuckTimeoutMs / 1000)} s; it was given up and not charged.`, {
          retryable: false,
        });
      }
    }
  }

  async function download(url: string, signal: AbortSignal): Promise<Buffer> {
    const response = await requestUpstream(settings.http, midjourneyProxyProviderName, url, { method: 'GET', signal, timeoutMs: 120_000, maxBytes: maxImageBytes });
    if (response.status !== 200) {
      throw new GatewayError('upstream_error', `${midjourneyProxyProviderName}'s image could not be downloaded (HTTP ${response.status}); Discord links expire.`, { retryable: false });
    }
    return response.body;
  }

  async function finish(job: MjJobData, options: ImageCallOptions): Promise<ImageCallResult> {
    const task = await waitForTask(job, options);
    if (task.status !== 'SUCCESS') throw failureError(task, modelId);
    if (task.imageUrl === undefined) throw invalidUpstreamResponse(midjourneyProxyProviderName, `task ${task.id} succeeded without an imageUrl`);
    const data = await download(task.imageUrl, options.abortSignal);
    // The buttons travel with the recorded job: the /mj dialect relays them, and a pressed one goes back to this channel.
    const finished: MjJobData = { ...job, ...(task.action === undefined ? {} : { action: task.action }), buttons: task.buttons };
    await options.onUpstreamJob?.({ provider: midjourneyProxyProviderName, data: { ...finished } });
    return { images: [{ kind: 'bytes', data }], warnings: [], upstreamRequestId: task.id };
  }

  async function run(options: ImageCallOptions): Promise<ImageCallResult> {
    const job = await submit(options);
    await options.onUpstreamJob?.({ provider: midjourneyProxyProviderName, data: { ...job } });
    return finish(job, options);
  }

  function recordedJob(job: UpstreamJobRef): MjJobData {
    const { id, startedAt } = job.data;
    if (job.provider !== midjourneyProxyProviderName || typeof id !== 'string') {
      throw new GatewayError('server_error', 'The recorded upstream job is not a midjourney-proxy task and cannot be resumed', { retryable: false });
    }
    return { id, startedAt: typeof startedAt === 'number' ? startedAt : now() };
  }

  return {
    specificationVersion: 'v1',
    provider: midjourneyProxyProviderName,
    modelId,
    // An IMAGINE's answer is one image, the 2×2 grid, as Midjourney gives it.
    maxImagesPerCall: 1,
    operations: ['generate', 'edit'],
    generate: run,
    // Image prompts: IMAGINE with base64Array (SubmitImagineDTO).
    edit: run,
    resume: (job, options) => finish(recordedJob(job), options),
  };
}
