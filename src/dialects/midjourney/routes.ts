// The midjourney-proxy API as relays serve it, under /mj and the mode prefixes /mj-fast/mj,
// /mj-turbo/mj and /mj-relax/mj (trueai-org/midjourney-proxy TaskController: [Route("mj/task")],
// [Route("mj-fast/mj/task")] …), emulated on the gateway's own image models: IMAGINE draws four
// images (answered as one 2×2 grid), U1–U4 hand out one of them, V1–V4, reroll, vary, zoom and pan
// are edits of an image, BLEND an edit of several. Every submission is a durable task of the gateway.
// Auth: Bearer, a bare `sk-…`, or midjourney-proxy's `mj-api-secret` header.
//
// Which models serve it is the operator's choice through catalog aliases: `midjourney` (and
// `midjourney-fast`, `-turbo`, `-relax` for the mode prefixes) draws, `midjourney-edit` (and
// `midjourney-<mode>-edit`) edits; without them, flux-schnell draws and flux-kontext-pro edits.
// When the drawing model is routed to a `midjourney-proxy` channel, Midjourney is not emulated but
// passed through (see passThrough below): the upstream draws, its grid and buttons are relayed.

import { randomInt } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.js';
import { parseImageRequest } from '../../core/image-request.js';
import { assertModelAllowed } from '../../core/key-policy.js';
import type { TaskRecord } from '../../core/ports/task-store.js';
import type { HttpDeps } from '../../http/deps.js';
import { callbackOf } from '../../http/image-tasks.js';
import { publicBase, reservationFor } from '../../http/routes/image-operation.js';
import { dialectOf } from '../../tasks/dialect-renderers.js';
import { newTaskId, type TaskCallback } from '../../tasks/task-service.js';
import { acceptKeyHeader, keyOf, pricedPerTask, resultBlobKeys, resultRendererFor, setDialectErrorHandler, storedFields, submitDialectTask } from '../shared/submit-task.js';
import { parsePrompt } from './prompt.js';
import { buttonHash, midjourneyDialect, passThroughProvider, upstreamTaskOf, renderMidjourneyTask, type MidjourneyAction, type MidjourneyData } from './render.js';

/**
 * midjourney-proxy's ReturnCode.java: SUCCESS = 1, NOT_FOUND = 3, VALIDATION_ERROR = 4, FAILURE = 9,
 * EXISTED = 21, IN_QUEUE = 22, QUEUE_REJECTED = 23, BANNED_PROMPT = 24.
 */
export const returnCode = { success: 1, notFound: 3, validation: 4, failure: 9, existed: 21, inQueue: 22, queueRejected: 23, bannedPrompt: 24 } as const;

const modes = [
  { prefix: '/mj', mode: undefined },
  { prefix: '/mj-fast/mj', mode: 'fast' },
  { prefix: '/mj-turbo/mj', mode: 'turbo' },
  { prefix: '/mj-relax/mj', mode: 'relax' },
] as const;

/** Images an IMAGINE draws: Midjourney's four candidates. */
const gridImages = 4;
const maxStateLength = 4096;
const maxListIds = 100;
/** How long a pass-through submission waits for the upstream's answer before answering 22 (queued). */
const upstreamAnswerWaitMs = 10_000;
const upstreamAnswerPollMs = 50;
/** midjourney-proxy's blend takes 2 to 5 images (SubmitBlendDTO: "base64Array 2..5"). */
const blendImages = { min: 2, max: 5 };

interface SubmitAnswer {
  code: number;
  description: string;
  result: string | null;
  properties: Record<string, unknown>;
}

/** midjourney-proxy's endpoints the gateway does not serve, with the action name its TaskAction gives each. */
const unsupportedActions: Record<string, { action: string; reason: string }> = {
  '/submit/describe': { action: 'DESCRIBE', reason: 'it draws with image models and has no model that describes an image in words.' },
  '/submit/shorten': { action: 'SHORTEN', reason: 'it draws with image models and has no model that shortens a prompt.' },
  '/submit/modal': { action: 'MODAL', reason: "no action here waits for a Discord form; send the prompt or mask with the action's own request." },
  '/submit/upload-discord-images': { action: 'UPLOAD', reason: 'images are sent inline as base64Array data: URLs, never uploaded to Discord.' },
  '/insight-face/swap': { action: 'SWAP_FACE', reason: 'it has no face-swap model.' },
};

const submitted = (taskId: string): SubmitAnswer => ({ code: returnCode.success, description: '提交成功', result: taskId, properties: {} });

/** A refusal in midjourney-proxy's shape, answered with HTTP 200 as midjourney-proxy does (SubmitResultVO.fail). */
class SubmitRefusal extends Error {
  constructor(
    readonly code: number,
    description: string,
  ) {
    super(description);
  }
}

function refuse(code: number, description: string): never {
  throw new SubmitRefusal(code, description);
}

function modelFor(deps: HttpDeps, mode: string | undefined, kind: 'draw' | 'edit'): string {
  const suffix = kind === 'edit' ? '-edit' : '';
  const names = [...(mode === undefined ? [] : [`midjourney-${mode}${suffix}`]), `midjourney${suffix}`, kind === 'edit' ? 'flux-kontext-pro' : 'flux-schnell'];
  return names.find((name) => deps.catalog.get(name) !== undefined) ?? (names.at(-1) as string);
}

function stringField(body: Record<string, unknown>, field: string, options: { required?: boolean; max?: number } = {}): string | undefined {
  const value = body[field];
  if (value === undefined || value === null || value === '') {
    if (options.required) refuse(returnCode.validation, `${field} must not be empty.`);
    return undefined;
  }
  if (typeof value !== 'string') refuse(returnCode.validation, `${field} must be a string.`);
  if (options.max !== undefined && value.length > options.max) refuse(returnCode.validation, `${field} is longer than ${options.max} characters.`);
  return value;
}

function bodyOf(request: FastifyRequest): Record<string, unknown> {
  const body = request.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) refuse(returnCode.validation, 'The request body must be a JSON object.');
  return body as Record<string, unknown>;
}

/** `data:image/png;base64,…` strings (base64Array), as midjourney-proxy takes them. */
function dataUrls(value: unknown, field: string, count: { min: number; max: number }): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string' || !item.startsWith('data:'))) refuse(returnCode.validation, `${field} must be a list of data: URLs (base64格式错误).`);
  if (value.length < count.min || value.length > count.max) refuse(returnCode.validation, `${field} takes ${count.min} to ${count.max} images.`);
  return value as string[];
}

/** A button press: which action on which of the task's images, from its customId. */
interface ButtonPress {
  action: MidjourneyAction;
  index: number;
  /** Its entry in the price book, spelled as new-api names Midjourney's actions (mj_variation, mj_pan …). */
  priceEntry: string;
  /** An edit's instruction to the image model. */
  instruction?: string;
}

function parseCustomId(customId: string, taskId: string): ButtonPress {
  const parts = customId.split('::');
  const hash = buttonHash(taskId);
  const named = (kind: string): boolean => parts[0] === 'MJ' && parts[1] === kind;
  if (named('JOB') && parts[3] !== undefined && parts[4] === hash) {
    const index = Number(parts[3]);
    switch (parts[2]) {
      case 'upsample':
        if (index >= 1 && index <= 4) return { action: 'UPSCALE', index, priceEntry: 'mj_upscale' };
        break;
      case 'variation':
        if (index >= 1 && index <= 4) return { action: 'VARIATION', index, priceEntry: 'mj_variation', instruction: 'A variation of this image, same subject and style' };
        break;
      case 'reroll':
        return { action: 'REROLL', index: 0, priceEntry: 'mj_reroll' };
      case 'high_variation':
        return { action: 'VARIATION', index: 1, priceEntry: 'mj_high_variation', instruction: 'A strong variation of this image: same subject, freely reimagined' };
      case 'low_variation':
        return { action: 'VARIATION', index: 1, priceEntry: 'mj_low_variation', instruction: 'A subtle variation of this image: keep the composition, change small details' };
      case 'pan_left':
      case 'pan_right':
      case 'pan_up':
      case 'pan_down':
        return { action: 'PAN', index: 1, priceEntry: 'mj_pan', instruction: `Extend the scene ${parts[2].slice(4) === 'up' ? 'upwards' : parts[2].slice(4) === 'down' ? 'downwards' : `to the ${parts[2].slice(4)}`}, continuing the picture seamlessly` };
      default:
        break;
    }
  }
  if (named('Outpaint') && parts[4] === hash && (parts[2] === '50' || parts[2] === '75')) {
    return { action: 'ZOOM', index: 1, priceEntry: 'mj_zoom', instruction: `Zoom out ${parts[2] === '50' ? '2x' : '1.5x'}: show more of the surroundings around this image` };
  }
  return refuse(returnCode.validation, `customId ${JSON.stringify(customId)} is not a button of task ${taskId}.`);
}

export async function midjourneyRoutes(app: FastifyInstance, deps: HttpDeps): Promise<void> {
  deps.dialectRenderers?.register(midjourneyDialect, (task, renderer, dialect) => renderMidjourneyTask(task, renderer, dialect.data as unknown as MidjourneyData));

  setDialectErrorHandler(app, (error) => {
    // Auth and quota keep their HTTP status; a refused submission is HTTP 200 with a midjourney-proxy code.
    if (error.status === 401 || error.status === 403) return { body: { code: returnCode.validation, description: error.message, result: null, properties: {}, ...error.toBody() } };
    const code = error.status === 429 ? returnCode.queueRejected : error.status === 404 ? returnCode.notFound : error.status < 500 ? returnCode.validation : returnCode.failure;
    return { status: 200, body: { code, description: error.message, result: null, properties: {}, ...error.toBody() } };
  });
  app.addHook('onRequest', async (request) => acceptKeyHeader(request, 'mj-api-secret'));

  const callbackFor = async (request: FastifyRequest, notifyHook: string | undefined): Promise<TaskCallback | undefined> =>
    notifyHook === undefined ? undefined : callbackOf({ callback_url: notifyHook }, deps, publicBase(request, deps));

  /**
   * The serving mode, decided in this one place: a model routed to a midjourney-proxy channel is
   * passed through to it (the upstream's grid, buttons and codes); any other model emulates Midjourney.
   */
  const passThrough = (model: string): boolean => deps.describeRoute(model).provider === passThroughProvider;

  /**
   * Submits a pass-through task and waits (bounded) until the upstream has accepted or refused it, so
   * the client gets midjourney-proxy's own answer: 1 accepted, 24 banned prompt, 23 queue full, 4 invalid.
   * A task still waiting for a worker after the bound is answered 22 (queued), as midjourney-proxy does.
   */
  const submitUpstream = async (
    request: FastifyRequest,
    reply: FastifyReply,
    input: { model: string; prompt: string; images: string[]; data: MidjourneyData; pricedAs: string; action?: { customId: string; taskId: string }; channel?: string },
  ): Promise<SubmitAnswer> => {
    const callback = await callbackFor(request, input.data.notifyHook);
    const { task } = await submitDialectTask(request, reply, deps, {
      fields: { model: input.model, prompt: input.prompt, n: 1, response_format: 'url', ...(input.action === undefined ? {} : { mj_action: input.action }) },
      images: input.images.map((url, index) => ({ url, field: index === 0 ? 'image' : `image_${index + 1}` })),
      dialect: { name: midjourneyDialect, data: input.data as unknown as Record<string, unknown> },
      pricedAs: input.pricedAs,
      ...(input.channel === undefined ? {} : { channel: input.channel }),
      ...(callback === undefined ? {} : { callback }),
    });
    const deadline = Date.now() + upstreamAnswerWaitMs;
    for (;;) {
      const latest = await deps.tasks.get(task.id, task.keyId);
      if (latest === undefined) return submitted(task.id);
      if (latest.status === 'failed') {
        const code = latest.error?.code;
        const refusal = code === 'content_policy_violation' || code === 'moderation_blocked' ? returnCode.bannedPrompt : code === 'upstream_rate_limited' ? returnCode.queueRejected : code === 'invalid_value' ? returnCode.validation : returnCode.failure;
        request.imagegate.errorCode = `mj_${refusal}`;
        return { code: refusal, description: refusal === returnCode.bannedPrompt ? `可能包含敏感词: ${latest.error?.message ?? ''}` : (latest.error?.message ?? 'The upstream refused the task.'), result: null, properties: {} };
      }
      if (latest.upstreamJob !== null || latest.status === 'succeeded' || latest.status === 'canceled') return submitted(task.id);
      if (Date.now() > deadline) return { code: returnCode.inQueue, description: '排队中 (waiting for the upstream)', result: task.id, properties: {} };
      await new Promise((resolve) => setTimeout(resolve, upstreamAnswerPollMs));
    }
  };

  /** A button of a pass-through task: the upstream's own button, pressed on the channel that made the original. */
  const pressUpstream = async (request: FastifyRequest, reply: FastifyReply, parent: { task: TaskRecord; data: MidjourneyData }, customId: string, extra: { notifyHook?: string; state: string }): Promise<SubmitAnswer> => {
    const upstream = upstreamTaskOf(parent.task);
    if (upstream === undefined) refuse(returnCode.failure, `Task ${parent.task.id} has no upstream task to act on.`);
    // The older forms (change, simple-change) name a button by kind and index with the gateway's hash; the upstream's button of that kind and index is meant.
    const [, , kind, index] = customId.split('::');
    const button =
      upstream.buttons.find((candidate) => candidate.customId === customId) ??
      upstream.buttons.find((candidate) => customId.startsWith('MJ::JOB::') && candidate.customId.startsWith(`MJ::JOB::${kind}::${index}::`));
    if (button === undefined) refuse(returnCode.validation, `customId ${JSON.stringify(customId)} is not a button of task ${parent.task.id}.`);
    const upstreamKind = button.customId.split('::')[2] ?? '';
    const action: MidjourneyAction = upstreamKind === 'upsample' ? 'UPSCALE' : upstreamKind === 'reroll' ? 'REROLL' : upstreamKind.startsWith('pan') ? 'PAN' : button.customId.startsWith('MJ::Outpaint') ? 'ZOOM' : 'VARIATION';
    const priceEntry = { UPSCALE: 'mj_upscale', REROLL: 'mj_reroll', PAN: 'mj_pan', ZOOM: 'mj_zoom', VARIATION: upstreamKind === 'high_variation' ? 'mj_high_variation' : upstreamKind === 'low_variation' ? 'mj_low_variation' : 'mj_variation' }[action as 'UPSCALE'];
    const data: MidjourneyData = {
      action,
      prompt: parent.data.prompt,
      customId: button.customId,
      description: `/${action.toLowerCase()} ${parent.task.id} ${button.label || button.emoji}`.trim(),
      state: extra.state,
      parentId: parent.task.id,
      ...(extra.notifyHook === undefined ? {} : { notifyHook: extra.notifyHook }),
    };
    return submitUpstream(request, reply, {
      model: parent.task.model,
      prompt: parent.data.prompt,
      images: [],
      data,
      pricedAs: priceEntry ?? 'mj_variation',
      action: { customId: button.customId, taskId: upstream.id },
      ...(upstream.channel === undefined ? {} : { channel: upstream.channel }),
    });
  };

  /** Draws four images from a prompt (IMAGINE, REROLL), or edits images into four (VARIATION, ZOOM, PAN, BLEND, an IMAGINE with image prompts). */
  const submitGrid = async (
    request: FastifyRequest,
    reply: FastifyReply,
    mode: string | undefined,
    input: { prompt: string; images: string[]; data: MidjourneyData; instruction?: string; pricedAs: string },
  ): Promise<SubmitAnswer> => {
    const drawModel = modelFor(deps, mode, 'draw');
    if (passThrough(drawModel)) {
      return submitUpstream(request, reply, { model: drawModel, prompt: input.prompt, images: input.images, data: input.data, pricedAs: input.pricedAs });
    }
    const parsed = parsePrompt(input.prompt);
    const edit = input.images.length > 0;
    const text = input.instruction === undefined ? parsed.text : `${input.instruction}${parsed.text === '' ? '' : `: ${parsed.text}`}`;
    const fields: Record<string, unknown> = {
      model: modelFor(deps, mode, edit ? 'edit' : 'draw'),
      prompt: text === '' ? 'An image' : text,
      n: gridImages,
      response_format: 'url',
      // A seed of its own, so /image-seed has an answer and a reroll differs.
      seed: parsed.seed ?? randomInt(0, 2 ** 31),
    };
    if (parsed.aspectRatio !== undefined) fields.aspect_ratio = parsed.aspectRatio;
    if (parsed.negative !== undefined) fields.negative_prompt = parsed.negative;
    const callback = await callbackFor(request, input.data.notifyHook);
    const { task } = await submitDialectTask(request, reply, deps, {
      fields,
      images: input.images.map((url, index) => ({ url, field: index === 0 ? 'image' : `image_${index + 1}` })),
      dialect: { name: midjourneyDialect, data: input.data as unknown as Record<string, unknown> },
      pricedAs: input.pricedAs,
      ...(callback === undefined ? {} : { callback }),
    });
    return submitted(task.id);
  };

  /** The task a button belongs to: the key's own, a finished Midjourney task. */
  const parentOf = async (request: FastifyRequest, taskId: string): Promise<{ task: TaskRecord; data: MidjourneyData }> => {
    const task = await deps.tasks.get(taskId, keyOf(request).id);
    const dialect = task === undefined ? undefined : dialectOf(task);
    if (task === undefined || dialect?.name !== midjourneyDialect) refuse(returnCode.notFound, '关联任务不存在或已失效 (the task does not exist or has expired).');
    if (task.status !== 'succeeded') refuse(returnCode.validation, `关联任务状态错误: task ${taskId} is ${task.status}, not SUCCESS.`);
    return { task, data: dialect.data as unknown as MidjourneyData };
  };

  /** An image of a finished task as a data: URL, to edit it. */
  const imageOf = async (task: TaskRecord, index: number): Promise<string> => {
    const blobKey = resultBlobKeys(task)[index - 1];
    const blob = blobKey === undefined ? undefined : await deps.blobs.get(blobKey);
    if (blob === undefined) refuse(returnCode.notFound, `Image ${index} of task ${task.id} is no longer stored.`);
    return `data:${blob.contentType};base64,${blob.data.toString('base64')}`;
  };

  /** U1–U4: the image itself, a finished task at once (nothing to draw). */
  const upscale = async (request: FastifyRequest, parent: TaskRecord, parentData: MidjourneyData, press: ButtonPress, data: MidjourneyData): Promise<SubmitAnswer> => {
    const blobKey = resultBlobKeys(parent)[press.index - 1];
    if (blobKey === undefined) refuse(returnCode.validation, `Task ${parent.id} has no image ${press.index} to upscale.`);
    const key = keyOf(request);
    const imageRequest = parseImageRequest(deps.catalog, 'generate', { model: parent.model, prompt: parsePrompt(parentData.prompt).text || 'An image', n: 1, response_format: 'url' });
    assertModelAllowed(key, imageRequest.model.id, imageRequest.requestedModel);
    imageRequest.dialect = { name: midjourneyDialect, data: data as unknown as Record<string, unknown> };
    const fields = storedFields(parent);
    if (typeof fields.seed === 'number') imageRequest.seed = fields.seed;
    request.imagegate.model = parent.model;
    const callback = await callbackFor(request, data.notifyHook);
    const taskId = newTaskId();
    const task = await deps.tasks.recordFinished({
      taskId,
      request: imageRequest,
      keyId: key.id,
      reservation: pricedPerTask(reservationFor(taskId, key.id, imageRequest), 'mj_upscale'),
      result: { created: Math.floor(Date.now() / 1000), data: [{ blob_key: blobKey }], response_format: 'url' },
      ...(callback === undefined ? {} : { callback }),
    });
    return submitted(task.id);
  };

  const press = async (request: FastifyRequest, reply: FastifyReply, mode: string | undefined, taskId: string, customId: string, extra: { notifyHook?: string; state: string }): Promise<SubmitAnswer> => {
    const parent = await parentOf(request, taskId);
    if (upstreamTaskOf(parent.task) !== undefined) return pressUpstream(request, reply, parent, customId, extra);
    const pressed = parseCustomId(customId, taskId);
    const data: MidjourneyData = {
      action: pressed.action,
      prompt: parent.data.prompt,
      customId,
      description: `/${pressed.action.toLowerCase()} ${taskId} ${pressed.index === 0 ? '' : pressed.index}`.trim(),
      state: extra.state,
      parentId: taskId,
      index: pressed.index,
      ...(extra.notifyHook === undefined ? {} : { notifyHook: extra.notifyHook }),
    };
    const images = resultBlobKeys(parent.task).length;
    if (pressed.action === 'UPSCALE' || pressed.action === 'REROLL' || (pressed.action === 'VARIATION' && !customId.includes('_variation'))) {
      if (images < gridImages) refuse(returnCode.validation, `关联任务不允许执行变化: task ${taskId} has no grid of four images.`);
    } else if (images !== 1) {
      refuse(returnCode.validation, `关联任务不允许执行变化: ${pressed.action} applies to an upscaled image.`);
    }
    if (pressed.action === 'UPSCALE') return upscale(request, parent.task, parent.data, pressed, data);
    if (pressed.action === 'REROLL') return submitGrid(request, reply, mode, { prompt: parent.data.prompt, images: [], data, pricedAs: 'mj_reroll' });
    const image = await imageOf(parent.task, pressed.index);
    return submitGrid(request, reply, mode, {
      prompt: parent.data.prompt,
      images: [image],
      data,
      pricedAs: pressed.priceEntry,
      ...(pressed.instruction === undefined ? {} : { instruction: pressed.instruction }),
    });
  };

  /** Runs a submit handler, answering a refusal as midjourney-proxy does: HTTP 200 with its code. */
  const answer = (handler: (request: FastifyRequest, reply: FastifyReply) => Promise<SubmitAnswer>) => async (request: FastifyRequest, reply: FastifyReply) => {
    request.imagegate.endpoint = `mj.${request.url.split('?')[0]?.split('/').slice(-2).join('.') ?? 'submit'}`;
    try {
      return await handler(request, reply);
    } catch (error) {
      if (!(error instanceof SubmitRefusal)) throw error;
      request.imagegate.errorCode = `mj_${error.code}`;
      return { code: error.code, description: error.message, result: null, properties: {} } satisfies SubmitAnswer;
    }
  };

  const common = (body: Record<string, unknown>): { notifyHook?: string; state: string } => {
    const notifyHook = stringField(body, 'notifyHook', { max: 2048 });
    return { state: stringField(body, 'state', { max: maxStateLength }) ?? '', ...(notifyHook === undefined ? {} : { notifyHook }) };
  };

  for (const { prefix, mode } of modes) {
    const auth = { preHandler: app.authenticate };

    app.post(`${prefix}/submit/imagine`, auth, answer(async (request, reply) => {
      const body = bodyOf(request);
      const prompt = stringField(body, 'prompt', { required: true, max: 8192 }) as string;
      const legacy = typeof body.base64 === 'string' ? [body.base64] : undefined;
      const images = dataUrls(body.base64Array ?? legacy, 'base64Array', { min: 0, max: 5 });
      const data: MidjourneyData = { action: 'IMAGINE', prompt, customId: '', description: `/imagine ${prompt}`, ...common(body) };
      return submitGrid(request, reply, mode, { prompt, images, data, pricedAs: 'mj_imagine' });
    }));

    app.post(`${prefix}/submit/action`, auth, answer(async (request, reply) => {
      const body = bodyOf(request);
      const taskId = stringField(body, 'taskId', { required: true, max: 200 }) as string;
      const customId = stringField(body, 'customId', { required: true, max: 400 }) as string;
      return press(request, reply, mode, taskId, customId, common(body));
    }));

    // midjourney-proxy's older form: {"action": "UPSCALE"|"VARIATION"|"REROLL", "index": 1-4, "taskId"}.
    app.post(`${prefix}/submit/change`, auth, answer(async (request, reply) => {
      const body = bodyOf(request);
      const taskId = stringField(body, 'taskId', { required: true, max: 200 }) as string;
      const action = body.action;
      const index = body.index;
      const hash = buttonHash(taskId);
      if (action === 'REROLL') return press(request, reply, mode, taskId, `MJ::JOB::reroll::0::${hash}::SOLO`, common(body));
      if ((action !== 'UPSCALE' && action !== 'VARIATION') || typeof index !== 'number' || !Number.isInteger(index) || index < 1 || index > 4) {
        refuse(returnCode.validation, 'action参数错误: action is UPSCALE, VARIATION or REROLL, index 1 to 4.');
      }
      return press(request, reply, mode, taskId, `MJ::JOB::${action === 'UPSCALE' ? 'upsample' : 'variation'}::${index}::${hash}`, common(body));
    }));

    // {"content": "<taskId> U2"} (U1–U4, V1–V4, R).
    app.post(`${prefix}/submit/simple-change`, auth, answer(async (request, reply) => {
      const body = bodyOf(request);
      const content = stringField(body, 'content', { required: true, max: 300 }) as string;
      const match = /^\s*(\S+)\s+([UV])([1-4])\s*$|^\s*(\S+)\s+R\s*$/i.exec(content);
      if (match === null) refuse(returnCode.validation, 'content参数错误: "<taskId> U1" … "V4", or "<taskId> R".');
      const taskId = (match[1] ?? match[4]) as string;
      const hash = buttonHash(taskId);
      const customId =
        match[4] !== undefined ? `MJ::JOB::reroll::0::${hash}::SOLO` : `MJ::JOB::${match[2]?.toUpperCase() === 'U' ? 'upsample' : 'variation'}::${match[3]}::${hash}`;
      return press(request, reply, mode, taskId, customId, common(body));
    }));

    app.post(`${prefix}/submit/blend`, auth, answer(async (request, reply) => {
      const body = bodyOf(request);
      const images = dataUrls(body.base64Array, 'base64Array', blendImages);
      if (images.length === 0) refuse(returnCode.validation, 'base64Array参数错误: 2 to 5 images.');
      // "dimensions": PORTRAIT (2:3), SQUARE (1:1), LANDSCAPE (3:2).
      const ratios: Record<string, string> = { PORTRAIT: '2:3', SQUARE: '1:1', LANDSCAPE: '3:2' };
      const dimensions = body.dimensions ?? 'SQUARE';
      const ratio = typeof dimensions === 'string' ? ratios[dimensions] : undefined;
      if (ratio === undefined) refuse(returnCode.validation, 'dimensions参数错误: PORTRAIT, SQUARE or LANDSCAPE.');
      const prompt = `Blend these images into one picture --ar ${ratio}`;
      const data: MidjourneyData = { action: 'BLEND', prompt, customId: '', description: `/blend ${images.length} images`, ...common(body) };
      return submitGrid(request, reply, mode, { prompt, images, data, pricedAs: 'mj_blend' });
    }));

    // Actions the gateway does not offer. midjourney-proxy itself answers an action it does not support
    // with code 4 and "不支持的操作: <ACTION>" (SubmitController.change), HTTP 200; clients (new-api, one-api)
    // show the description and charge nothing for any code but 1, 21 and 22.
    for (const [path, unsupported] of Object.entries(unsupportedActions)) {
      app.post(`${prefix}${path}`, auth, answer(async () =>
        refuse(returnCode.validation, `不支持的操作: ${unsupported.action}. ${path} is not offered by this gateway: ${unsupported.reason}`),
      ));
    }

    app.get<{ Params: { id: string } }>(`${prefix}/task/:id/fetch`, auth, async (request, reply) => {
      request.imagegate.endpoint = 'mj.task.fetch';
      const task = await deps.tasks.get(request.params.id, keyOf(request).id);
      const dialect = task === undefined ? undefined : dialectOf(task);
      if (task === undefined || dialect?.name !== midjourneyDialect) {
        return reply.code(404).send({ code: returnCode.notFound, description: `No task found with id '${request.params.id}'.`, result: null, properties: {} });
      }
      request.imagegate.model = task.model;
      return renderMidjourneyTask(task, resultRendererFor(request, deps), dialect.data as unknown as MidjourneyData);
    });

    app.get<{ Params: { id: string } }>(`${prefix}/task/:id/image-seed`, auth, async (request, reply) => {
      request.imagegate.endpoint = 'mj.task.image-seed';
      const task = await deps.tasks.get(request.params.id, keyOf(request).id);
      if (task === undefined || dialectOf(task)?.name !== midjourneyDialect) {
        return reply.code(404).send({ code: returnCode.notFound, description: `No task found with id '${request.params.id}'.`, result: null, properties: {} });
      }
      const seed = storedFields(task).seed;
      return { code: returnCode.success, description: '成功', result: typeof seed === 'number' ? String(seed) : null, properties: {} };
    });

    const listByIds = async (request: FastifyRequest): Promise<unknown[]> => {
      request.imagegate.endpoint = 'mj.task.list-by-condition';
      const body = (request.body ?? {}) as { ids?: unknown };
      const ids = Array.isArray(body.ids) ? body.ids.filter((id): id is string => typeof id === 'string' && id.trim() !== '').map((id) => id.trim()) : [];
      if (ids.length > maxListIds) throw new GatewayError('invalid_value', `'ids' takes at most ${maxListIds} task ids.`, { param: 'ids' });
      const keyId = keyOf(request).id;
      const renderer = resultRendererFor(request, deps);
      const found = await Promise.all([...new Set(ids)].map((id) => deps.tasks.get(id, keyId)));
      return Promise.all(
        found.flatMap((task) => {
          const dialect = task === undefined ? undefined : dialectOf(task);
          return task !== undefined && dialect?.name === midjourneyDialect ? [renderMidjourneyTask(task, renderer, dialect.data as unknown as MidjourneyData)] : [];
        }),
      );
    };
    app.post(`${prefix}/task/list-by-condition`, auth, listByIds);
    app.post(`${prefix}/task/list-by-ids`, auth, listByIds);
  }
}
