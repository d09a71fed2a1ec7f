// midjourney-proxy's wire format (novicezk/midjourney-proxy, and the trueai-org "plus" fork relays run):
// submit answers, the task object, and what the adapter reads of them.
//
// - ReturnCode.java: SUCCESS = 1, NOT_FOUND = 3, VALIDATION_ERROR = 4, FAILURE = 9, EXISTED = 21,
//   IN_QUEUE = 22, QUEUE_REJECTED = 23, BANNED_PROMPT = 24 ("prompt contains sensitive words").
// - SubmitResultVO: `{code, description, result, properties}`, HTTP 200 even when refused
//   (SubmitController: `return SubmitResultVO.fail(ReturnCode.BANNED_PROMPT, "可能包含敏感词")`).
// - TaskStatus: NOT_START, SUBMITTED, MODAL, IN_PROGRESS, FAILURE, SUCCESS, CANCEL; `progress` is a
//   string such as "45%"; `imageUrl` the 2×2 grid of an IMAGINE; `buttons` [{customId, emoji, label, type, style}].

import { GatewayError } from '../../core/errors.js';
import { invalidUpstreamResponse, moderationError } from '../shared/upstream-errors.js';

export const midjourneyProxyProviderName = 'midjourney-proxy';

export const mjReturnCode = { success: 1, notFound: 3, validation: 4, failure: 9, existed: 21, inQueue: 22, queueRejected: 23, bannedPrompt: 24 } as const;

export interface MjButton {
  customId: string;
  emoji: string;
  label: string;
  type: number;
  style: number;
}

export interface MjTask {
  id: string;
  action: string | undefined;
  status: string;
  /** 0–100, read from "NN%". */
  progress: number | undefined;
  imageUrl: string | undefined;
  failReason: string | undefined;
  buttons: MjButton[];
  submitTime: number | undefined;
}

export const terminalStatuses = new Set(['SUCCESS', 'FAILURE', 'CANCEL']);

function parseJson(body: Buffer, what: string): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(midjourneyProxyProviderName, `${what} is not JSON`);
  }
}

/**
 * The upstream task id of an accepted submission. Codes 1 and 22 (queued, still accepted) and 21
 * with a `result` (the task exists) are accepted (shared/specs/providers/midjourney-proxy.md: "accept
 * 1 and 22 (and 21 when result present) as task created"); `result` may come as a number from relays.
 */
export function parseSubmitAnswer(body: Buffer, model: string): string {
  const answer = parseJson(body, 'the submit answer') as { code?: unknown; description?: unknown; result?: unknown; properties?: unknown };
  if (typeof answer !== 'object' || answer === null || typeof answer.code !== 'number') throw invalidUpstreamResponse(midjourneyProxyProviderName, 'the submit answer has no code');
  const result = typeof answer.result === 'string' || typeof answer.result === 'number' ? String(answer.result) : undefined;
  const description = typeof answer.description === 'string' ? answer.description.slice(0, 300) : '';
  const accepted = answer.code === mjReturnCode.success || answer.code === mjReturnCode.inQueue || answer.code === mjReturnCode.existed;
  if (accepted && result !== undefined && result !== '') return result;
  switch (answer.code) {
    case mjReturnCode.bannedPrompt: {
      const properties = (answer.properties ?? {}) as { bannedWord?: unknown };
      return rethrow(moderationError({ provider: midjourneyProxyProviderName, model, stage: 'input', reasons: typeof properties.bannedWord === 'string' ? [properties.bannedWord] : [] }));
    }
    case mjReturnCode.queueRejected:
      return rethrow(new GatewayError('upstream_rate_limited', `${midjourneyProxyProviderName}'s queue is full (code 23)${description === '' ? '' : `: ${description}`}`, { retryable: true }));
    case mjReturnCode.validation:
    case mjReturnCode.notFound:
      return rethrow(new GatewayError('invalid_value', `${midjourneyProxyProviderName} rejected the request (code ${answer.code})${description === '' ? '' : `: ${description}`}`, { retryable: false }));
    default:
      return rethrow(new GatewayError('upstream_error', `${midjourneyProxyProviderName} refused the submission (code ${answer.code})${description === '' ? '' : `: ${description}`}`, { retryable: answer.code === mjReturnCode.failure }));
  }
}

function rethrow(error: GatewayError): never {
  throw error;
}

function readButtons(value: unknown): MjButton[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((item) => {
    if (typeof item !== 'object' || item === null) return [];
    const button = item as Record<string, unknown>;
    if (typeof button.customId !== 'string') return [];
    return [
      {
        customId: button.customId.slice(0, 400),
        emoji: typeof button.emoji === 'string' ? button.emoji.slice(0, 40) : '',
        label: typeof button.label === 'string' ? button.label.slice(0, 80) : '',
        type: typeof button.type === 'number' ? button.type : 2,
        style: typeof button.style === 'number' ? button.style : 2,
      },
    ];
  }).slice(0, 40);
}

export function readTask(value: unknown): MjTask | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const task = value as Record<string, unknown>;
  if ((typeof task.id !== 'string' && typeof task.id !== 'number') || typeof task.status !== 'string') return undefined;
  const progress = typeof task.progress === 'string' ? Number.parseFloat(task.progress) : undefined;
  return {
    id: String(task.id),
    action: typeof task.action === 'string' ? task.action : undefined,
    status: task.status,
    progress: progress !== undefined && Number.isFinite(progress) ? progress : undefined,
    imageUrl: typeof task.imageUrl === 'string' && task.imageUrl !== '' ? task.imageUrl : undefined,
    failReason: typeof task.failReason === 'string' && task.failReason !== '' ? task.failReason.slice(0, 500) : undefined,
    buttons: readButtons(task.buttons),
    submitTime: typeof task.submitTime === 'number' ? task.submitTime : undefined,
  };
}

/** `POST /mj/task/list-by-condition` answers a JSON array of tasks. */
export function parseTaskList(body: Buffer): MjTask[] {
  const list = parseJson(body, 'the task list');
  if (!Array.isArray(list)) throw invalidUpstreamResponse(midjourneyProxyProviderName, 'the task list is not an array');
  return list.flatMap((item) => {
    const task = readTask(item);
    return task === undefined ? [] : [task];
  });
}

export function parseTask(body: Buffer): MjTask {
  const task = readTask(parseJson(body, 'the task'));
  if (task === undefined) throw invalidUpstreamResponse(midjourneyProxyProviderName, 'the task has no id or status');
  return task;
}

/** A FAILURE whose reason is Midjourney's moderation ("Banned prompt", "敏感词", "flagged") is a content-policy refusal. */
export function failureError(task: MjTask, model: string): GatewayError {
  const reason = task.failReason ?? 'no reason given';
  if (/banned|sensitive|敏感|moderat|flagged|policy/i.test(reason)) return moderationError({ provider: midjourneyProxyProviderName, model, stage: 'input', reasons: [reason] });
  if (task.status === 'CANCEL') return new GatewayError('upstream_error', `${midjourneyProxyProviderName} canceled the task: ${reason}`, { retryable: false });
  return new GatewayError('upstream_error', `${midjourneyProxyProviderName} failed the task: ${reason}`, { retryable: false });
}
