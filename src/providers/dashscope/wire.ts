// The fields of DashScope's answers the adapter reads, checked on the way in, and DashScope's error
// codes mapped onto the gateway's classes.
//
// Error body on every endpoint: {"request_id":"…","code":"InvalidParameter","message":"…"}; the
// general codes (https://www.alibabacloud.com/help/en/model-studio/error-code): 400 InvalidParameter,
// 400 DataInspectionFailed "Input or output data may contain inappropriate content.", 400 Arrearage
// "Access denied, plesase make sure your account is in good standing." (sic), 401 InvalidApiKey
// "Invalid API-key provided.", 429 Throttling / Throttling.RateQuota, 500 InternalError. Image models
// add IPInfringementSuspect ("Requests that contain prohibited content result in an
// `IPInfringementSuspect` or `DataInspectionFailed` error", text-to-image-v2-api-reference, limits).

import { GatewayError } from '../../core/errors.js';
import { isRecord, parseUpstreamJsonObject } from '../shared/json-answer.js';
import type { HttpResponse } from '../shared/types.js';
import { errorFromUpstreamResponse, invalidUpstreamResponse, moderationError, outOfFundsError, sanitizeUpstreamMessage } from '../shared/upstream-errors.js';

export const dashScopeProviderName = 'dashscope';

/** `task_status` values of `GET /api/v1/tasks/{task_id}` (UNKNOWN: "the task does not exist or its status is unknown"). */
export type DashScopeTaskStatus = 'PENDING' | 'RUNNING' | 'SUCCEEDED' | 'FAILED' | 'CANCELED' | 'UNKNOWN';

export interface DashScopeImageResult {
  url: string;
  /** The prompt DashScope rendered after `prompt_extend` rewrote it. */
  actualPrompt?: string;
}

export type DashScopeTaskAnswer =
  | { status: 'PENDING' | 'RUNNING' }
  | { status: 'SUCCEEDED'; images: DashScopeImageResult[]; failures: DashScopeFailure[] }
  | { status: 'FAILED'; failure: DashScopeFailure }
  | { status: 'CANCELED' | 'UNKNOWN' }
  /** A status outside the documented six. */
  | { status: 'other'; upstreamStatus: string };

export interface DashScopeFailure {
  code: string;
  message: string;
}

/** `{"output":{"task_status":"PENDING","task_id":"…"},"request_id":"…"}` → the task id. */
export function parseSubmitAnswer(response: HttpResponse): string {
  const body = parseJsonObject(response, 'task submission');
  const output = body['output'];
  const taskId = isRecord(output) ? output['task_id'] : undefined;
  if (typeof taskId !== 'string' || !/^[A-Za-z0-9-]{1,128}$/.test(taskId)) {
    throw invalidUpstreamResponse(dashScopeProviderName, 'the task submission answer has no usable output.task_id');
  }
  return taskId;
}

export function parseTaskAnswer(response: HttpResponse): DashScopeTaskAnswer {
  const body = parseJsonObject(response, 'task query');
  const output = body['output'];
  if (!isRecord(output) || typeof output['task_status'] !== 'string') {
    throw invalidUpstreamResponse(dashScopeProviderName, 'the task query answer has no output.task_status');
  }
  const status = output['task_status'];
  switch (status) {
    case 'PENDING':
    case 'RUNNING':
    case 'CANCELED':
    case 'UNKNOWN':
      return { status };
    case 'FAILED':
      return { status, failure: failureOf(output) };
    case 'SUCCEEDED': {
      // Partial success: a result is `{"url": …}` or `{"code": …, "message": …}` for an image that failed.
      const results = Array.isArray(output['results']) ? output['results'] : [];
      const images: DashScopeImageResult[] = [];
      const failures: DashScopeFailure[] = [];
      for (const result of results) {
        if (!isRecord(result)) continue;
        const url = result['url'];
        if (typeof url === 'string' && isHttpUrl(url)) {
          images.push({ url, ...(typeof result['actual_prompt'] === 'string' ? { actualPrompt: result['actual_prompt'] } : {}) });
        } else if (typeof result['code'] === 'string') {
          failures.push(failureOf(result));
        }
      }
      return { status, images, failures };
    }
    default:
      return { status: 'other', upstreamStatus: status };
  }
}

/** The synchronous answer: `output.choices[].message.content[]` items with an `image` URL. */
export function parseGenerationAnswer(response: HttpResponse): DashScopeImageResult[] {
  const body = parseJsonObject(response, 'generation');
  const output = body['output'];
  const choices = isRecord(output) && Array.isArray(output['choices']) ? output['choices'] : undefined;
  if (choices === undefined) throw invalidUpstreamResponse(dashScopeProviderName, 'the generation answer has no output.choices');
  const images: DashScopeImageResult[] = [];
  for (const choice of choices) {
    const message = isRecord(choice) ? choice['message'] : undefined;
    const content = isRecord(message) && Array.isArray(message['content']) ? message['content'] : [];
    for (const part of content) {
      const image = isRecord(part) ? part['image'] : undefined;
      if (typeof image === 'string' && isHttpUrl(image)) images.push({ url: image });
    }
  }
  if (images.length === 0) throw invalidUpstreamResponse(dashScopeProviderName, 'the generation answer holds no image');
  return images;
}

/** Content moderation codes: the prompt, an input image or the result was refused. */
function isModerationCode(code: string): boolean {
  return code === 'DataInspectionFailed' || code === 'IPInfringementSuspect' || code.startsWith('DataInspectionFailed.');
}

/** Which side moderation flagged: DashScope says "Input data …" or "Output data …". */
function moderationStage(message: string, fallback: 'input' | 'output'): 'input' | 'output' {
  if (/\boutput\b/i.test(message) && !/\binput\b/i.test(message)) return 'output';
  if (/\binput\b/i.test(message) && !/\boutput\b/i.test(message)) return 'input';
  return fallback;
}

/**
 * A non-200 answer. The code in the body decides before the status: Arrearage comes as a 400 and must
 * fail over as out-of-funds, moderation as a 400 must not read as a bad request.
 */
export function errorFromDashScopeResponse(response: HttpResponse, model: string, secrets: string[]): GatewayError {
  const failure = readErrorBody(response);
  if (failure !== undefined) {
    const mapped = errorFromFailure(failure, model, 'input', response.status);
    if (mapped !== undefined) return mapped;
  }
  return errorFromUpstreamResponse(dashScopeProviderName, response, { secrets });
}

/**
 * A failure DashScope reported in a body (an error answer, a FAILED task, a failed result): the
 * classes the code alone settles, or undefined when the HTTP status should.
 */
export function errorFromFailure(failure: DashScopeFailure, model: string, stage: 'input' | 'output', status: number): GatewayError | undefined {
  if (isModerationCode(failure.code)) {
    return moderationError({ provider: dashScopeProviderName, model, stage: moderationStage(failure.message, stage), reasons: [failure.code] });
  }
  if (failure.code === 'Arrearage') return outOfFundsError(dashScopeProviderName, status);
  return undefined;
}

/** A FAILED task or a result that failed: moderation, out of funds, or the task's own failure (not retried). */
export function errorFromTaskFailure(failure: DashScopeFailure, model: string, taskId: string, secrets: string[]): GatewayError {
  const mapped = errorFromFailure(failure, model, 'output', 200);
  if (mapped !== undefined) return mapped;
  const message = sanitizeUpstreamMessage(failure.message, secrets);
  const code = sanitizeUpstreamMessage(failure.code, secrets);
  return new GatewayError('upstream_error', `${dashScopeProviderName} task ${taskId} failed${code === '' ? '' : ` (${code})`}${message === '' ? '' : `: ${message}`}`, {
    retryable: false,
  });
}

function readErrorBody(response: HttpResponse): DashScopeFailure | undefined {
  try {
    const parsed: unknown = JSON.parse(response.body.toString('utf8'));
    if (isRecord(parsed) && typeof parsed['code'] === 'string') {
      return { code: parsed['code'], message: typeof parsed['message'] === 'string' ? parsed['message'] : '' };
    }
  } catch {
    // Not JSON: a proxy's page; the status decides.
  }
  return undefined;
}

function failureOf(record: Record<string, unknown>): DashScopeFailure {
  return {
    code: typeof record['code'] === 'string' ? record['code'] : '',
    message: typeof record['message'] === 'string' ? record['message'] : '',
  };
}

const parseJsonObject = (response: HttpResponse, what: string): Record<string, unknown> => parseUpstreamJsonObject(dashScopeProviderName, response, what);

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
