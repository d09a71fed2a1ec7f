// AUTOMATIC1111 stable-diffusion-webui and Forge: txt2img for generations, img2img (with an inpainting
// mask when one is given) for edits. The webui answers synchronously, one job at a time; while a call
// waits, its own task's progress is read from `/internal/progress` (named by `force_task_id`).

import { randomUUID } from 'node:crypto';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ProviderWarning } from '../../core/ports/image-model.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { errorFromTransportFailure, errorFromUpstreamResponse } from '../shared/upstream-errors.js';
import { a1111ProviderName, buildBody, errorMessageOf, parseResult, toBase64, toInpaintingMask } from './wire.js';

export const a1111DefaultBaseURL = 'http://127.0.0.1:7860';
/** The latent is an eighth of the image, so the webui floors sizes to multiples of 8; its sliders run 64–2048. */
export const a1111SizeSpec: SizeSpec = { kind: 'pixels', multiple: 8, minEdge: 64, maxEdge: 2048 };
/** Upstream model name meaning "the checkpoint the webui has loaded". */
export const loadedCheckpoint = 'default';
/** A batch is bounded by the GPU's memory; 4 fits SDXL at 1024² on a 24 GB card. */
const defaultMaxImagesPerCall = 4;
/** Rendering high-resolution batches on a busy webui takes minutes, and jobs queue behind each other. */
const defaultTimeoutMs = 600_000;
const progressIntervalMs = 1_000;
const maxResponseBytes = 200 * 1024 * 1024;

export interface A1111ChannelOptions {
  maxImagesPerCall: number;
  /** Sent with every job (steps, sampler, `override_settings`, scripts …): the operator's, never a client's. */
  parameters: Record<string, unknown>;
}

export function readA1111Options(channel: string, options: Record<string, unknown> = {}): A1111ChannelOptions {
  const max = options['max_images_per_call'] ?? defaultMaxImagesPerCall;
  if (typeof max !== 'number' || !Number.isInteger(max) || max < 1) throw new TypeError(`channel ${channel}: options.max_images_per_call must be a positive integer`);
  const parameters = options['parameters'] ?? {};
  if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) {
    throw new TypeError(`channel ${channel}: options.parameters must be a mapping of txt2img/img2img fields`);
  }
  return { maxImagesPerCall: max, parameters: parameters as Record<string, unknown> };
}

export function createA1111ImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const baseURL = (settings.baseURL || a1111DefaultBaseURL).replace(/\/+$/, '');
  const channelOptions = readA1111Options(settings.channel, settings.options);
  // `--api-auth user:pass` is HTTP Basic; a channel without a key talks to an open webui.
  const headers: Record<string, string> = settings.apiKey === '' ? {} : { authorization: `Basic ${Buffer.from(settings.apiKey).toString('base64')}` };
  const checkpoint = modelId === loadedCheckpoint ? undefined : modelId;
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;

  async function post(path: string, json: unknown, signal: AbortSignal, limits: { timeoutMs: number; maxBytes: number }): Promise<HttpResponse> {
    return settings.http.request(`${baseURL}${path}`, { method: 'POST', headers, json, signal, ...limits });
  }

  /** Reports this job's progress until `done` settles; polling failures only stop the reports. */
  function followProgress(taskId: string, options: ImageCallOptions, done: Promise<unknown>): void {
    const report = options.onProgress;
    if (report === undefined) return;
    let finished = false;
    void done.finally(() => {
      finished = true;
    }).catch(() => undefined);
    const poll = async () => {
      while (!finished && !options.abortSignal.aborted) {
        await new Promise((resolve) => setTimeout(resolve, progressIntervalMs));
        if (finished) return;
        try {
          const response = await post('/internal/progress', { id_task: taskId, id_live_preview: -1 }, options.abortSignal, { timeoutMs: 10_000, maxBytes: 10 * 1024 * 1024 });
          const state = JSON.parse(response.body.toString('utf8')) as { progress?: unknown };
          if (!finished && typeof state.progress === 'number') report(Math.min(99, Math.round(state.progress * 100)));
        } catch {
          return;
        }
      }
    };
    void poll();
  }

  async function run(path: '/sdapi/v1/txt2img' | '/sdapi/v1/img2img', options: ImageCallOptions, extra: () => Promise<Record<string, unknown>>): Promise<ImageCallResult> {
    const sized = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, a1111SizeSpec);
    if (sized.value.kind !== 'pixels') throw new Error('a1111 sizes are pixels');
    const taskId = `task(imagegate-${randomUUID()})`;
    const { body, warnings } = buildBody({ options, width: sized.value.width, height: sized.value.height, checkpoint, operatorParameters: channelOptions.parameters, taskId });
    Object.assign(body, await extra());
    const call = post(path, body, options.abortSignal, { timeoutMs, maxBytes: maxResponseBytes });
    followProgress(taskId, options, call);
    let response: HttpResponse;
    try {
      response = await call;
    } catch (error) {
      // The webui has no per-job cancel (`/sdapi/v1/interrupt` stops whatever runs, perhaps another
      // client's job), so an aborted call lets the job finish and drops its result.
      if (options.abortSignal.aborted) throw options.abortSignal.reason;
      throw errorFromTransportFailure(a1111ProviderName, error);
    }
    if (response.status < 200 || response.status >= 300) throw errorOf(response);
    const result = parseResult(response, options.n);
    const allWarnings: ProviderWarning[] = [...sized.warnings, ...warnings];
    if (result.images.length < options.n) {
      allWarnings.push({ type: 'other', message: `AUTOMATIC1111 returned ${result.images.length} of ${options.n} images.` });
    }
    return { images: result.images, warnings: allWarnings, upstreamRequestId: taskId };
  }

  function errorOf(response: HttpResponse): GatewayError {
    const message = errorMessageOf(response.body);
    // The webui's 422 is FastAPI's validation of our body; its 500s are exceptions in the job (out of
    // memory, a checkpoint that is not there): worth another channel, as any upstream 5xx.
    return errorFromUpstreamResponse(a1111ProviderName, response, { secrets: [settings.apiKey], ...(message === undefined ? {} : { message }) });
  }

  return {
    specificationVersion: 'v1',
    provider: a1111ProviderName,
    modelId,
    maxImagesPerCall: channelOptions.maxImagesPerCall,
    operations: ['generate', 'edit'],
    generate: (options) => run('/sdapi/v1/txt2img', options, async () => ({})),
    edit: (options) =>
      run('/sdapi/v1/img2img', options, async () => {
        const [first] = options.images;
        if (first === undefined) throw new GatewayError('invalid_value', 'An edit needs an image.', { param: 'image' });
        const mask = options.mask ?? undefined;
        return {
          init_images: options.images.map(toBase64),
          ...(mask === undefined ? {} : { mask: await toInpaintingMask(mask) }),
        };
      }),
  };
}
