// Kling's response envelope `{code, message, request_id, data}`, the task fields the adapter reads, and
// Kling's business codes mapped onto the gateway's error taxonomy.
//
// Codes from Kling's "通用信息 / 错误码" table (https://app.klingai.com/global/dev/document-api/apiReference/commonInfo;
// mirrored in WHQ25/rawgenai docs/research/kling/common-info.md and inference-sh/grid api/klingai/docs/00-general.md):
//   401 1000–1004 身份验证失败 (1003 "Authorization未到有效时间", 1004 "Authorization已失效")
//   429 1100 账户异常 · 1101 账户欠费 (后付费场景) · 1102 资源包已用完/已过期（预付费场景） · 403 1103 请求的资源无权限，如接口/模型
//   400 1200 请求参数非法 · 1201 参数非法 · 404 1202 method无效 · 1203 请求的资源不存在，如模型
//   400 1300 触发平台策略 · 1301 触发平台的内容安全策略
//   429 1302 API请求过快，超过平台速率限制 · 1303 并发或QPS超出预付费资源包限制 · 1304 触发平台的IP白名单策略
//   500 5000 服务器内部错误 · 503 5001 服务器暂时不可用 · 504 5002 服务器内部超时

import { GatewayError } from '../../core/errors.js';
import type { HttpResponse } from '../shared/types.js';
import { errorFromUpstreamResponse, invalidUpstreamResponse, moderationError, outOfFundsError, parseRetryAfterSeconds, sanitizeUpstreamMessage, withStatus } from '../shared/upstream-errors.js';

export const klingProviderName = 'kling';

/** "任务状态，枚举值：submitted（已提交）、processing（处理中）、succeed（成功）、failed（失败）". */
export type KlingTaskStatus = 'submitted' | 'processing' | 'succeed' | 'failed';

export interface KlingTask {
  taskId: string;
  status: KlingTaskStatus | 'other';
  upstreamStatus: string;
  statusMessage: string;
  /** `task_result.images[].url`, in `index` order. */
  imageUrls: string[];
  requestId?: string;
}

interface KlingEnvelope {
  code: number;
  message: string;
  requestId?: string;
  data: unknown;
}

/**
 * The submission's and the query's answer: a task, or the error its `code` names. Kling answers errors
 * with an HTTP status beside the code; a relay in front of it may answer 200 with a non-zero code, so
 * the code decides.
 */
export function readTaskAnswer(response: HttpResponse, context: { model: string; secrets: string[] }): KlingTask {
  const envelope = readEnvelope(response);
  if (envelope === undefined) {
    if (response.status !== 200) throw errorFromUpstreamResponse(klingProviderName, response, { secrets: context.secrets });
    throw invalidUpstreamResponse(klingProviderName, 'the answer is not a JSON object');
  }
  if (envelope.code !== 0 || response.status !== 200) throw errorOfCode(envelope, response, context);
  const data = envelope.data;
  if (!isRecord(data)) throw invalidUpstreamResponse(klingProviderName, 'the answer has no data object');
  const taskId = data['task_id'];
  const status = data['task_status'];
  if (typeof taskId !== 'string' || taskId === '') throw invalidUpstreamResponse(klingProviderName, 'the answer has no task_id');
  if (typeof status !== 'string') throw invalidUpstreamResponse(klingProviderName, 'the answer has no task_status');
  const known: readonly string[] = ['submitted', 'processing', 'succeed', 'failed'];
  const statusMessage = typeof data['task_status_msg'] === 'string' ? data['task_status_msg'] : '';
  return {
    taskId,
    status: known.includes(status) ? (status as KlingTaskStatus) : 'other',
    upstreamStatus: status,
    statusMessage,
    imageUrls: imageUrlsOf(data['task_result']),
    ...(envelope.requestId === undefined ? {} : { requestId: envelope.requestId }),
  };
}

/** `task_result.images: [{index, url}]`, sorted by index; entries without an http(s) URL are left out. */
function imageUrlsOf(result: unknown): string[] {
  if (!isRecord(result) || !Array.isArray(result['images'])) return [];
  return result['images']
    .filter((image): image is Record<string, unknown> => isRecord(image) && typeof image['url'] === 'string' && isHttpUrl(image['url']))
    .map((image, position) => ({ url: image['url'] as string, index: typeof image['index'] === 'number' ? image['index'] : position }))
    .sort((a, b) => a.index - b.index)
    .map((image) => image.url);
}

function errorOfCode(envelope: KlingEnvelope, response: HttpResponse, context: { model: string; secrets: string[] }): GatewayError {
  const code = envelope.code;
  const message = sanitizeUpstreamMessage(envelope.message, context.secrets);
  const detail = `Kling code ${code}${message === '' ? '' : `: ${message}`}`;
  const cause = { provider: klingProviderName, status: response.status, code, ...(envelope.requestId === undefined ? {} : { upstreamRequestId: envelope.requestId }), message };
  // Out of credit: arrears (post-paid) or the resource pack used up or expired (pre-paid). Fail over.
  if (code === 1101 || code === 1102) return outOfFundsError(klingProviderName, response.status);
  if (code >= 1000 && code <= 1004) {
    // The message is left out, as for every credential failure: the channel's keys need attention.
    return new GatewayError('upstream_auth_failed', `${klingProviderName} rejected the gateway's credentials (Kling code ${code}); the channel's access key and secret key need attention`, {
      retryable: false,
      cause: { provider: klingProviderName, status: response.status, code },
    });
  }
  if (code === 1100 || code === 1304) {
    // 1100 account exception, 1304 IP allow-list: the whole account is unusable until the operator acts
    // (the router sets the key aside and tries the next channel).
    const what = code === 1304 ? "does not allow the gateway's IP address" : 'is in an abnormal state';
    return new GatewayError('upstream_auth_failed', `${klingProviderName}: the channel's account ${what} (Kling code ${code}); it needs attention`, { retryable: false, cause });
  }
  if (code === 1103) {
    // No permission for this interface or model: the key still serves the account's other models, so
    // it is not set aside; another channel may have the model.
    return new GatewayError('upstream_error', `${klingProviderName}: the channel's account has no access to this model or interface (${detail})`, { retryable: true, cause });
  }
  if (code === 1300 || code === 1301) return moderationError({ provider: klingProviderName, model: context.model, stage: 'input', reasons: [code === 1301 ? 'content security policy' : 'platform policy'] });
  if (code === 1302 || code === 1303) {
    // Kling's advice for 1303: "Exponential Backoff: Initial delay ≥ 1 second"; a retry-after header wins when present.
    const retryAfterSeconds = parseRetryAfterSeconds(response.headers) ?? 1;
    return new GatewayError('upstream_rate_limited', `${klingProviderName} is rate limiting the gateway (${detail})`, { retryable: true, retryAfterSeconds, cause });
  }
  if (code === 1200 || code === 1201 || code === 1203) {
    return new GatewayError('invalid_value', `${klingProviderName} rejected the request (${detail})`, { retryable: false, cause });
  }
  if (code === 5002) return new GatewayError('upstream_timeout', `${klingProviderName} timed out (${detail})`, { cause });
  if (code >= 5000 && code <= 5999) return new GatewayError('upstream_error', `${klingProviderName} failed (${detail})`, { retryable: true, cause });
  // 1202 and codes not in the table: the HTTP status decides, with Kling's message.
  return errorFromUpstreamResponse(klingProviderName, response.status === 200 ? withStatus(response, 502) : response, { secrets: context.secrets, message: detail });
}

/** "Failure to pass the risk control system": Kling's wording for a task its moderation stopped. */
export function isRiskControlFailure(message: string): boolean {
  return /risk control|content security|风控|安全策略|sensitive/i.test(message);
}

function readEnvelope(response: HttpResponse): KlingEnvelope | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || typeof parsed['code'] !== 'number') return undefined;
  return {
    code: parsed['code'],
    message: typeof parsed['message'] === 'string' ? parsed['message'] : '',
    ...(typeof parsed['request_id'] === 'string' ? { requestId: parsed['request_id'] } : {}),
    data: parsed['data'],
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
