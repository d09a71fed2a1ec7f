// ComfyUI: an operator's workflow template per model, filled and queued with `POST /prompt`; the
// prompt id is recorded as the upstream job at once, then `/history/{id}` is polled (progress comes
// over the `/ws` websocket while it runs) and the saved images are read back through `/view`.
// Source of the API: comfyanonymous/ComfyUI server.py (routes, bodies, error shapes) and execution.py.

import { randomUUID } from 'node:crypto';
import { WebSocket } from 'undici';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageCallResult, ImageModel, ImageOperation, InputImage, ProviderWarning, UpstreamJobRef } from '../../core/ports/image-model.js';
import { pollUntilDone } from '../shared/poll.js';
import { cancelUpstreamOnAbortOrTimeout, transientFailureAllowance } from '../shared/queue-jobs.js';
import { mapSize, type SizeSpec } from '../shared/size-mapping.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, invalidUpstreamResponse } from '../shared/upstream-errors.js';
import { comfyProviderName, type HistoryEntry, outputImagesOf, parsePromptError, parseQueued, readHistoryEntry } from './wire.js';
import { clientPlaceholders, fillWorkflow, loadWorkflow, placeholdersIn, type PlaceholderValues, type Workflow } from './workflow.js';

export const comfyDefaultBaseURL = 'http://127.0.0.1:8188';
/** Latents are an eighth of the image (EmptyLatentImage steps by 8). */
export const comfySizeSpec: SizeSpec = { kind: 'pixels', multiple: 8, minEdge: 64, maxEdge: 4096 };
const defaultMaxImagesPerCall = 4;
const defaultPollIntervalMs = 1_000;
/** A queue of other jobs in front plus a large render: ComfyUI runs one prompt at a time. */
const defaultTimeoutMs = 900_000;
/** KSampler takes seeds up to 2^64-1; a random one is chosen in the range JSON numbers keep exactly. */
const maxRandomSeed = 2 ** 48;

interface ModelWorkflows {
  generate?: Workflow;
  edit?: Workflow;
  checkpoint: string;
}

/** The recorded job: the prompt id ComfyUI queued it under. */
interface ComfyJob {
  prompt_id: string;
}

function readWorkflows(settings: ProviderSettings, modelId: string): ModelWorkflows {
  const option = settings.options?.['workflows'] ?? { '*': { generate: 'builtin:sdxl-txt2img', edit: 'builtin:sdxl-img2img' } };
  if (typeof option !== 'object' || option === null || Array.isArray(option)) {
    throw new TypeError(`channel ${settings.channel}: options.workflows maps upstream model names (or '*') to {generate, edit, checkpoint}`);
  }
  const entry = (option as Record<string, unknown>)[modelId] ?? (option as Record<string, unknown>)['*'];
  if (entry === undefined) {
    throw new GatewayError('model_not_found', `The ComfyUI channel ${settings.channel} has no workflow for ${JSON.stringify(modelId)}.`, { param: 'model' });
  }
  const { generate, edit, checkpoint } = entry as { generate?: unknown; edit?: unknown; checkpoint?: unknown };
  const read = (value: unknown) => (typeof value === 'string' ? loadWorkflow(value, settings.channel) : undefined);
  const workflows: ModelWorkflows = { checkpoint: typeof checkpoint === 'string' ? checkpoint : modelId };
  const generateWorkflow = read(generate);
  const editWorkflow = read(edit);
  if (generateWorkflow !== undefined) workflows.generate = generateWorkflow;
  if (editWorkflow !== undefined) workflows.edit = editWorkflow;
  return workflows;
}

export function createComfyImageModel(settings: ProviderSettings, modelId: string): ImageModel {
  const baseURL = (settings.baseURL || comfyDefaultBaseURL).replace(/\/+$/, '');
  const workflows = readWorkflows(settings, modelId);
  // ComfyUI has no auth of its own; a reverse proxy in front of it usually takes a bearer token.
  const headers: Record<string, string> = settings.apiKey === '' ? {} : { authorization: `Bearer ${settings.apiKey}` };
  const pollIntervalMs = settings.pollIntervalMs ?? defaultPollIntervalMs;
  const timeoutMs = settings.timeoutMs ?? defaultTimeoutMs;
  // One call renders a batch only when every template takes {{batch_size}}.
  const batches = [workflows.generate, workflows.edit].every((workflow) => workflow === undefined || placeholdersIn(workflow).has('batch_size'));
  const configuredMax = settings.options?.['max_images_per_call'];
  if (configuredMax !== undefined && (typeof configuredMax !== 'number' || !Number.isInteger(configuredMax) || configuredMax < 1)) {
    throw new TypeError(`channel ${settings.channel}: options.max_images_per_call must be a positive integer`);
  }
  const maxImagesPerCall = batches ? ((configuredMax as number | undefined) ?? defaultMaxImagesPerCall) : 1;

  async function send(path: string, init: { method: 'GET' | 'POST'; json?: unknown; body?: FormData }, signal: AbortSignal, maxBytes = 10 * 1024 * 1024): Promise<HttpResponse> {
    return requestUpstream(settings.http, comfyProviderName, `${baseURL}${path}`, { ...init, headers, signal, timeoutMs: 60_000, maxBytes });
  }

  async function upload(image: InputImage, signal: AbortSignal): Promise<string> {
    const form = new FormData();
    const extension = image.mediaType.split('/')[1] ?? 'png';
    form.set('image', new Blob([image.data], { type: image.mediaType }), `imagegate-${randomUUID()}.${extension}`);
    form.set('type', 'input');
    form.set('subfolder', 'imagegate');
    form.set('overwrite', 'true');
    const response = await send('/upload/image', { method: 'POST', body: form }, signal);
    if (response.status !== 200) throw errorFromUpstreamResponse(comfyProviderName, response, { secrets: [settings.apiKey] });
    const uploaded = JSON.parse(response.body.toString('utf8')) as { name?: unknown; subfolder?: unknown };
    if (typeof uploaded.name !== 'string') throw invalidUpstreamResponse(comfyProviderName, 'the upload answer has no name');
    // LoadImage names files in a subfolder as `subfolder/name`.
    return typeof uploaded.subfolder === 'string' && uploaded.subfolder !== '' ? `${uploaded.subfolder}/${uploaded.name}` : uploaded.name;
  }

  /** Progress of `promptId` from the websocket, while `until` is pending; failures only lose the reports. */
  function watchProgress(clientId: string, promptIdOf: () => string | undefined, options: ImageCallOptions): { latest: () => number | undefined; close: () => void } {
    if (options.onProgress === undefined) return { latest: () => undefined, close: () => undefined };
    let latest: number | undefined;
    let socket: WebSocket | undefined;
    try {
      socket = new WebSocket(`${baseURL.replace(/^http/, 'ws')}/ws?clientId=${encodeURIComponent(clientId)}`);
      socket.addEventListener('message', (event) => {
        if (typeof event.data !== 'string') return; // binary frames are live previews
        try {
          const message = JSON.parse(event.data) as { type?: string; data?: { value?: number; max?: number; prompt_id?: string } };
          const data = message.data;
          if (message.type !== 'progress' || data === undefined || data.prompt_id !== promptIdOf()) return;
          if (typeof data.value === 'number' && typeof data.max === 'number' && data.max > 0) latest = Math.min(99, Math.round((data.value / data.max) * 100));
        } catch {
          // A frame we cannot read is not worth failing a render over.
        }
      });
      socket.addEventListener('error', () => undefined);
    } catch {
      socket = undefined;
    }
    return { latest: () => latest, close: () => socket?.close() };
  }

  async function waitForResult(job: ComfyJob, options: ImageCallOptions, progress: () => number | undefined): Promise<ImageCallResult> {
    const allowance = transientFailureAllowance(3);
    const entry = await pollUntilDone<HistoryEntry>(
      async () => {
        let response: HttpResponse;
        try {
          response = await send(`/history/${encodeURIComponent(job.prompt_id)}`, { method: 'GET' }, options.abortSignal, 200 * 1024 * 1024);
          if (response.status !== 200) throw errorFromUpstreamResponse(comfyProviderName, response, { secrets: [settings.apiKey] });
        } catch (error) {
          allowance.rideOut(error);
          const reported = progress();
          return reported === undefined ? { done: false } : { done: false, progress: reported };
        }
        allowance.reset();
        const found = readHistoryEntry(response.body, job.prompt_id);
        if (found !== undefined) return { done: true, value: found };
        const reported = progress();
        return reported === undefined ? { done: false } : { done: false, progress: reported };
      },
      { intervalMs: pollIntervalMs, timeoutMs, signal: options.abortSignal, provider: comfyProviderName, ...(options.onProgress ? { onProgress: options.onProgress } : {}) },
    );
    if (entry.status === 'error') {
      throw new GatewayError('upstream_error', `ComfyUI failed to run the workflow: ${entry.errorMessage ?? 'execution error'}`, { retryable: false, cause: { provider: comfyProviderName } });
    }
    const files = outputImagesOf(entry);
    if (files.length === 0) throw invalidUpstreamResponse(comfyProviderName, 'the finished prompt saved no images');
    const images = [];
    for (const file of files.slice(0, options.n)) {
      const query = new URLSearchParams({ filename: file.filename, subfolder: file.subfolder, type: file.type });
      const response = await send(`/view?${query}`, { method: 'GET' }, options.abortSignal, 200 * 1024 * 1024);
      if (response.status !== 200) throw errorFromUpstreamResponse(comfyProviderName, response, { secrets: [settings.apiKey] });
      images.push({ kind: 'bytes' as const, data: response.body, ...(response.headers['content-type'] ? { mediaType: response.headers['content-type'] } : {}) });
    }
    const warnings: ProviderWarning[] = images.length < options.n ? [{ type: 'other', message: `ComfyUI returned ${images.length} of ${options.n} images.` }] : [];
    return { images, warnings, upstreamRequestId: job.prompt_id };
  }

  async function cancel(job: ComfyJob): Promise<void> {
    const signal = AbortSignal.timeout(10_000);
    try {
      // Pending: taken off the queue. Running: /interrupt stops the running prompt (ComfyUI's is global,
      // so only when the running one is ours).
      await send('/queue', { method: 'POST', json: { delete: [job.prompt_id] } }, signal);
      const queue = await send('/queue', { method: 'GET' }, signal);
      const running = (JSON.parse(queue.body.toString('utf8')) as { queue_running?: unknown[][] }).queue_running ?? [];
      if (running.some((item) => item[1] === job.prompt_id)) await send('/interrupt', { method: 'POST', json: { prompt_id: job.prompt_id } }, signal);
    } catch {
      // Best effort: the job finishes and its result is dropped.
    }
  }

  async function run(operation: Exclude<ImageOperation, 'variation'>, options: ImageCallOptions): Promise<ImageCallResult> {
    const workflow = operation === 'generate' ? workflows.generate : workflows.edit;
    if (workflow === undefined) throw new GatewayError('unsupported_endpoint', `This ComfyUI channel has no ${operation} workflow for ${modelId}.`, { param: 'model' });
    const sized = mapSize({ size: options.size, aspectRatio: options.aspectRatio }, comfySizeSpec);
    if (sized.value.kind !== 'pixels') throw new Error('ComfyUI sizes are pixels');
    const warnings: ProviderWarning[] = [...sized.warnings];
    const values: PlaceholderValues = {
      prompt: options.prompt,
      width: sized.value.width,
      height: sized.value.height,
      seed: options.seed ?? Math.floor(Math.random() * maxRandomSeed),
      batch_size: options.n,
      checkpoint: workflows.checkpoint,
    };
    for (const [name, value] of Object.entries(options.providerOptions)) {
      if (clientPlaceholders.has(name) && (typeof value === 'string' || typeof value === 'number')) values[name as 'steps'] = value;
      else warnings.push({ type: 'unsupported', param: name, message: `ComfyUI workflows take no '${name}' from a request; it was not used.` });
    }
    const uses = placeholdersIn(workflow);
    if (operation === 'edit') {
      const [first] = options.images;
      if (first === undefined) throw new GatewayError('invalid_value', 'An edit needs an image.', { param: 'image' });
      values.image = await upload(first, options.abortSignal);
      if (options.images.length > 1) warnings.push({ type: 'unsupported', param: 'image', message: 'This ComfyUI workflow takes one input image; the others were not used.' });
      if (options.mask !== undefined) {
        // LoadImage/LoadImageMask read the mask from the alpha channel, transparent = edit, as OpenAI's mask is.
        if (uses.has('mask')) values.mask = await upload(options.mask, options.abortSignal);
        else warnings.push({ type: 'unsupported', param: 'mask', message: 'This ComfyUI edit workflow takes no mask; the whole image was re-rendered.' });
      }
    }
    let filled: Workflow;
    try {
      filled = fillWorkflow(workflow, values);
    } catch (error) {
      throw new GatewayError('server_error', `The ComfyUI workflow for ${modelId} cannot be filled: ${(error as Error).message}`);
    }

    const clientId = randomUUID();
    let promptId: string | undefined;
    const watcher = watchProgress(clientId, () => promptId, options);
    try {
      const response = await send('/prompt', { method: 'POST', json: { prompt: filled, client_id: clientId } }, options.abortSignal);
      if (response.status !== 200) {
        const message = parsePromptError(response.body);
        throw errorFromUpstreamResponse(comfyProviderName, response, { secrets: [settings.apiKey], ...(message === undefined ? {} : { message }) });
      }
      const job: ComfyJob = { prompt_id: parseQueued(response.body) };
      promptId = job.prompt_id;
      await options.onUpstreamJob?.({ provider: comfyProviderName, data: { ...job } });
      const result = await cancelUpstreamOnAbortOrTimeout(() => waitForResult(job, options, watcher.latest), options.abortSignal, () => cancel(job));
      return { ...result, warnings: [...warnings, ...result.warnings] };
    } finally {
      watcher.close();
    }
  }

  function recordedJob(job: UpstreamJobRef): ComfyJob {
    const promptId = job.data['prompt_id'];
    if (job.provider !== comfyProviderName || typeof promptId !== 'string') {
      throw new GatewayError('server_error', 'The recorded upstream job is not a ComfyUI prompt and cannot be resumed');
    }
    return { prompt_id: promptId };
  }

  const operations: ImageOperation[] = ['generate'];
  if (workflows.edit !== undefined) operations.push('edit');
  return {
    specificationVersion: 'v1',
    provider: comfyProviderName,
    modelId,
    maxImagesPerCall,
    operations,
    generate: (options) => run('generate', options),
    ...(workflows.edit === undefined ? {} : { edit: (options: ImageCallOptions) => run('edit', options) }),
    resume: (job, options) => {
      const comfyJob = recordedJob(job);
      return cancelUpstreamOnAbortOrTimeout(() => waitForResult(comfyJob, options, () => undefined), options.abortSignal, () => cancel(comfyJob));
    },
    cancel: (job) => cancel(recordedJob(job)),
  };
}
