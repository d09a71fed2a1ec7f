// One taxonomy for upstream failures: turns upstream HTTP answers and transport failures into GatewayErrors.

import { GatewayError } from '../../core/errors.js';
import { HttpClientError, type HttpClient, type HttpRequestOptions, type HttpResponse } from './types.js';

/** Longest upstream message passed on to the client; the rest is noise or, worse, echoed input. */
const maxMessageLength = 500;
const redacted = '[redacted]';

/**
 * Makes an upstream message safe to show a client: removes the given secrets (and anything that
 * looks like a bearer token or an API key), control characters and runs of whitespace, and cuts it short.
 */
export function sanitizeUpstreamMessage(text: string, secrets: string[] = []): string {
  let cleaned = text;
  // Longest first, so a secret that contains another is removed whole.
  for (const secret of [...secrets].filter((value) => value.length >= 4).sort((a, b) => b.length - a.length)) {
    cleaned = cleaned.split(secret).join(redacted);
  }
  cleaned = cleaned
    .replace(/\b(Bearer|Basic|Token|Key)\s+[A-Za-z0-9._~+/=-]{8,}/gi, `$1 ${redacted}`)
    .replace(/\b(sk|pk|rk|r8|fal|key)[-_][A-Za-z0-9_-]{12,}/g, redacted)
    .replace(/\bAIza[A-Za-z0-9_-]{20,}/g, redacted)
    .replace(/([?&](?:key|api_key|apikey|token|access_token|signature|sig|x-amz-signature)=)[^&\s"']+/gi, `$1${redacted}`)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (cleaned.length > maxMessageLength) cleaned = `${cleaned.slice(0, maxMessageLength - 1)}…`;
  return cleaned;
}

/**
 * Seconds to wait from `retry-after-ms` (OpenAI), `retry-after` in seconds, or `retry-after` as an
 * HTTP date. Rounded up to whole seconds; undefined when absent or unreadable.
 */
export function parseRetryAfterSeconds(headers: Record<string, string>, now: number = Date.now()): number | undefined {
  const milliseconds = headers['retry-after-ms'];
  if (milliseconds !== undefined && /^\s*\d+(\.\d+)?\s*$/.test(milliseconds)) {
    return Math.max(0, Math.ceil(Number(milliseconds) / 1000));
  }
  const retryAfter = headers['retry-after']?.trim();
  if (retryAfter === undefined || retryAfter === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter));
  const date = Date.parse(retryAfter);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, Math.ceil((date - now) / 1000));
}

/** Pulls the human message out of the error bodies upstreams use; falls back to the raw text. */
export function extractUpstreamMessage(body: Buffer): string {
  const text = body.toString('utf8').trim();
  if (text === '') return '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // HTML error pages from proxies say nothing useful beyond their title.
    const title = /<title>([^<]*)<\/title>/i.exec(text)?.[1];
    return title ?? text;
  }
  return messageFromJson(parsed) ?? text;
}

function messageFromJson(value: unknown, depth = 0): string | undefined {
  if (depth > 3 || value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    // FastAPI / pydantic validation lists: [{"loc":["body","width"],"msg":"..."}]
    const parts = value.map((item) => {
      if (isRecord(item) && typeof item['msg'] === 'string') {
        const location = Array.isArray(item['loc']) ? item['loc'].filter((part) => part !== 'body').join('.') : '';
        return location === '' ? item['msg'] : `${location}: ${item['msg']}`;
      }
      return messageFromJson(item, depth + 1);
    });
    const joined = parts.filter((part): part is string => part !== undefined && part !== '').join('; ');
    return joined === '' ? undefined : joined;
  }
  if (!isRecord(value)) return undefined;
  for (const key of ['message', 'error', 'detail', 'details', 'errors', 'error_message', 'msg', 'title', 'name']) {
    const found = messageFromJson(value[key], depth + 1);
    if (found !== undefined && found !== '') return found;
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The answer as if it had carried `status` (a provider that reports its errors inside a 200 or a 400).
 * Its fields copied, not spread: the client's answers keep `body` on their prototype (http-client.ts).
 */
export function withStatus(response: HttpResponse, status: number): HttpResponse {
  return { status, headers: response.headers, body: response.body, url: response.url };
}

/**
 * Maps a non-success upstream answer to the gateway's taxonomy. `message` replaces the message read
 * from the body (it is sanitized all the same); `secrets` are scrubbed from anything shown.
 */
export function errorFromUpstreamResponse(
  provider: string,
  response: HttpResponse,
  options: { secrets?: string[]; message?: string } = {},
): GatewayError {
  const status = response.status;
  const upstreamText = sanitizeUpstreamMessage(options.message ?? extractUpstreamMessage(response.body), options.secrets);
  const detail = upstreamText === '' ? '' : `: ${upstreamText}`;
  const requestId = response.headers['x-request-id'] ?? response.headers['request-id'];
  const cause = { provider, status, ...(requestId === undefined ? {} : { upstreamRequestId: requestId }), message: upstreamText };

  if (status === 400 || status === 404 || status === 422) {
    return new GatewayError('invalid_value', `${provider} rejected the request (HTTP ${status})${detail}`, { retryable: false, cause });
  }
  if (status === 402 || ((status === 401 || status === 403) && saysOutOfFunds(upstreamText))) {
    return outOfFundsError(provider, status);
  }
  if (status === 401 || status === 403) {
    // The upstream's own words are left out: they may quote the key, and the client has no use for them.
    return new GatewayError(
      'upstream_auth_failed',
      `${provider} rejected the gateway's credentials (HTTP ${status}); the channel's API key needs attention`,
      { retryable: false, cause: { provider, status } },
    );
  }
  if (status === 408) {
    return new GatewayError('upstream_timeout', `${provider} timed out handling the request${detail}`, { cause });
  }
  const retryAfterSeconds = parseRetryAfterSeconds(response.headers);
  const retryAfter = retryAfterSeconds === undefined ? {} : { retryAfterSeconds };
  if (status === 429) {
    return new GatewayError('upstream_rate_limited', `${provider} is rate limiting the gateway${detail}`, { retryable: true, ...retryAfter, cause });
  }
  if (status >= 500 && status <= 599) {
    return new GatewayError('upstream_error', `${provider} failed (HTTP ${status})${detail}`, { retryable: true, ...retryAfter, cause });
  }
  if (status >= 400 && status <= 499) {
    // 405, 409, 413, 415 …: the same request will fail the same way, so not worth retrying elsewhere.
    return new GatewayError('upstream_error', `${provider} refused the request (HTTP ${status})${detail}`, { retryable: false, cause });
  }
  return invalidUpstreamResponse(provider, `unexpected HTTP status ${status}`);
}

/**
 * Bodies that say the account ran out of credit although the status says "forbidden". fal answers
 * 403 `{"detail":"User is locked. Reason: Exhausted balance. Top up your balance at
 * fal.ai/dashboard/billing."}` (and `Reason: TOP_UP`), quoted from fal-ai/fal issues #1112 and #1147;
 * fal's own key-check failures say nothing of balance or top-ups.
 */
const outOfFundsWording = /exhausted balance|reason:\s*top_up|top up your balance|insufficient (?:balance|credits?|funds)|out of credits?/i;

export function saysOutOfFunds(message: string): boolean {
  return outOfFundsWording.test(message);
}

/**
 * The channel's upstream account has no credit: fail over (retryable) and let the router mark the
 * channel out of funds. The upstream's words are left out, as for credential failures.
 */
export function outOfFundsError(provider: string, status: number): GatewayError {
  return new GatewayError('upstream_out_of_funds', `${provider} refused the request (HTTP ${status}): the channel's upstream account is out of credit and needs a top-up`, {
    retryable: true,
    cause: { provider, status },
  });
}

/**
 * One request to a provider: a failure to get any answer becomes the gateway's error for that provider
 * (below), except when the caller aborted — it knows why, so it gets its own reason back.
 */
export async function requestUpstream(http: HttpClient, provider: string, url: string, options: HttpRequestOptions): Promise<HttpResponse> {
  try {
    return await http.request(url, options);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    throw errorFromTransportFailure(provider, error);
  }
}

/** Maps a failure to get any answer at all (HttpClientError, or anything thrown on the way). */
export function errorFromTransportFailure(provider: string, error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  if (!(error instanceof HttpClientError)) {
    return new GatewayError('upstream_error', `The request to ${provider} failed`, { retryable: true, cause: error });
  }
  switch (error.reason) {
    case 'timeout':
      return new GatewayError('upstream_timeout', `${provider} did not answer in time`, { cause: error });
    case 'network':
      return new GatewayError('upstream_error', `Could not reach ${provider} (network error)`, { retryable: true, cause: error });
    case 'blocked_address':
      // The refused host is kept in the cause (the channel test shows it to the operator): it may be
      // the configured base URL or a polling/result URL the upstream handed out.
      return new GatewayError('upstream_error', `A request for ${provider} went to an address the gateway may not connect to`, {
        retryable: false,
        cause: error,
      });
    case 'too_large':
      return new GatewayError('upstream_error', `${provider} sent a response larger than the gateway accepts`, { retryable: false, cause: error });
    case 'aborted':
      return new GatewayError('upstream_error', `The request to ${provider} was cancelled`, { retryable: false, cause: error });
    case 'too_many_redirects':
      return new GatewayError('upstream_error', `${provider} redirected too many times`, { retryable: false, cause: error });
    case 'invalid_url':
      return new GatewayError('upstream_error', `${provider} gave a URL the gateway will not fetch`, { retryable: false, cause: error });
  }
}

/** OpenAI's gpt-image family reports moderation as `moderation_blocked`; DALL·E and others as `content_policy_violation`. */
function usesModerationBlocked(model: string): boolean {
  return /^(gpt-image|chatgpt-image)/i.test(model);
}

export function moderationError(input: { provider: string; model: string; stage: 'input' | 'output'; reasons?: string[] }): GatewayError {
  const categories = input.reasons ?? [];
  const flagged =
    input.stage === 'input'
      ? 'The prompt or input image was flagged by the safety system.'
      : 'The generated image was flagged by the safety system.';
  const because = categories.length === 0 ? '' : ` safety_violations=[${categories.join(', ')}].`;
  const details = { moderation_details: { moderation_stage: input.stage, categories } };
  if (usesModerationBlocked(input.model)) {
    return new GatewayError('moderation_blocked', `Your request was rejected by the safety system (${input.provider}). ${flagged}${because}`, {
      details,
    });
  }
  return new GatewayError(
    'content_policy_violation',
    `Your request was rejected as a result of our safety system (${input.provider}). ${flagged}${because}`,
    { details },
  );
}

/** For upstream bodies that are not what the API documents (bad JSON, missing fields). */
export function invalidUpstreamResponse(provider: string, what: string): GatewayError {
  return new GatewayError('upstream_invalid_response', `${provider} returned a response the gateway could not read: ${what}`, { retryable: true });
}
