// What a client sees when an upstream fails: codes, statuses, retry hints, and no leaked secrets.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { HttpClientError, type HttpResponse } from './types.js';
import {
  errorFromTransportFailure,
  errorFromUpstreamResponse,
  invalidUpstreamResponse,
  moderationError,
  parseRetryAfterSeconds,
  sanitizeUpstreamMessage,
} from './upstream-errors.js';

const apiKey = 'sk-live-0123456789abcdefSECRET';

function upstream(status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return { status, headers, body: Buffer.from(text), url: 'https://api.example.test/v1/images' };
}

describe('errorFromUpstreamResponse', () => {
  it.each([
    [400, 'invalid_value', 400, false],
    [404, 'invalid_value', 400, false],
    [422, 'invalid_value', 400, false],
    [401, 'upstream_auth_failed', 502, false],
    [403, 'upstream_auth_failed', 502, false],
    [402, 'upstream_out_of_funds', 502, true],
    [408, 'upstream_timeout', 504, true],
    [429, 'upstream_rate_limited', 429, true],
    [500, 'upstream_error', 502, true],
    [502, 'upstream_error', 502, true],
    [503, 'upstream_error', 502, true],
    [504, 'upstream_error', 502, true],
    [409, 'upstream_error', 502, false],
  ] as const)('maps HTTP %i to %s (status %i, retryable %s)', (status, code, gatewayStatus, retryable) => {
    const error = errorFromUpstreamResponse('bfl', upstream(status, { detail: 'something happened' }));
    expect(error).toBeInstanceOf(GatewayError);
    expect(error.code).toBe(code);
    expect(error.status).toBe(gatewayStatus);
    expect(error.retryable).toBe(retryable);
  });

  it('passes on the upstream validation message for a 400', () => {
    const error = errorFromUpstreamResponse('openai', upstream(400, { error: { message: 'Invalid size 999x999.', type: 'invalid_request_error' } }));
    expect(error.message).toContain('openai');
    expect(error.message).toContain('Invalid size 999x999.');
    expect(error.toBody().error.type).toBe('invalid_request_error');
  });

  it('reads FastAPI validation lists (BFL 422)', () => {
    const error = errorFromUpstreamResponse(
      'bfl',
      upstream(422, { detail: [{ loc: ['body', 'width'], msg: 'Input should be a multiple of 32', type: 'multiple_of' }] }),
    );
    expect(error.message).toContain('width: Input should be a multiple of 32');
  });

  it('uses the adapter-provided message instead of the body when given', () => {
    const error = errorFromUpstreamResponse('stability', upstream(400, 'garbage'), { message: 'prompt too long' });
    expect(error.message).toContain('prompt too long');
    expect(error.message).not.toContain('garbage');
  });

  it('says the channel is out of credit for a 402', () => {
    expect(errorFromUpstreamResponse('replicate', upstream(402, { detail: 'pay up' })).message).toContain('out of credit');
  });

  // Issue 10 item 10: fal's wording, quoted from fal-ai/fal issues #1112 and #1147 (and awsl-project/maxx#843).
  it.each([
    'User is locked. Reason: Exhausted balance. Top up your balance at fal.ai/dashboard/billing.',
    'User is locked. Reason: TOP_UP.',
  ])('maps a 403 that says %j to upstream_out_of_funds, not a credentials failure', (detail) => {
    const error = errorFromUpstreamResponse('fal', upstream(403, { detail }));
    expect([error.code, error.status, error.retryable]).toEqual(['upstream_out_of_funds', 502, true]);
    expect(error.message).not.toContain('API key');
  });

  it('keeps a plain 403 a credentials failure', () => {
    expect(errorFromUpstreamResponse('fal', upstream(403, { detail: 'Invalid Key' })).code).toBe('upstream_auth_failed');
  });

  it('never shows the key on 401/403, even when the upstream quotes it', () => {
    for (const status of [401, 403]) {
      const error = errorFromUpstreamResponse('openai', upstream(status, { error: { message: `Incorrect API key provided: ${apiKey}` } }), {
        secrets: [apiKey],
      });
      expect(error.message).not.toContain(apiKey);
      expect(JSON.stringify(error.toBody())).not.toContain(apiKey);
      expect(error.message).toContain('openai');
    }
  });

  it('scrubs a secret echoed in any other error, with or without being told the secret', () => {
    const told = errorFromUpstreamResponse('fal', upstream(400, { detail: `bad request with key ${apiKey}` }), { secrets: [apiKey] });
    expect(told.message).not.toContain(apiKey);
    expect(told.message).toContain('bad request with key');
    const untold = errorFromUpstreamResponse('openai', upstream(500, `upstream proxy said: Authorization: Bearer ${apiKey}`));
    expect(untold.message).not.toContain(apiKey);
  });

  it('takes retry-after seconds on a 429', () => {
    const error = errorFromUpstreamResponse('bfl', upstream(429, { detail: 'slow down' }, { 'retry-after': '7' }));
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryAfterSeconds).toBe(7);
  });

  it('prefers retry-after-ms (OpenAI) and rounds up to whole seconds', () => {
    const error = errorFromUpstreamResponse('openai', upstream(429, {}, { 'retry-after-ms': '1500', 'retry-after': '9' }));
    expect(error.retryAfterSeconds).toBe(2);
  });

  it('leaves retryAfterSeconds unset when the upstream gives no hint', () => {
    expect(errorFromUpstreamResponse('openai', upstream(429, {})).retryAfterSeconds).toBeUndefined();
  });

  it('cuts very long upstream messages short', () => {
    const error = errorFromUpstreamResponse('a1111', upstream(500, 'x'.repeat(10_000)));
    expect(error.message.length).toBeLessThan(700);
  });

  it('shows only the title of an HTML error page', () => {
    const error = errorFromUpstreamResponse('comfyui', upstream(502, '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>'));
    expect(error.message).toContain('502 Bad Gateway');
    expect(error.message).not.toContain('<html>');
  });
});

describe('parseRetryAfterSeconds', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads seconds', () => {
    expect(parseRetryAfterSeconds({ 'retry-after': '30' }, now)).toBe(30);
  });

  it('reads an HTTP date relative to now', () => {
    expect(parseRetryAfterSeconds({ 'retry-after': 'Thu, 01 Jan 2026 00:02:00 GMT' }, now)).toBe(120);
  });

  it('never returns a negative wait for a date in the past', () => {
    expect(parseRetryAfterSeconds({ 'retry-after': 'Wed, 31 Dec 2025 23:00:00 GMT' }, now)).toBe(0);
  });

  it('reads retry-after-ms', () => {
    expect(parseRetryAfterSeconds({ 'retry-after-ms': '250' }, now)).toBe(1);
  });

  it('ignores what it cannot read', () => {
    expect(parseRetryAfterSeconds({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfterSeconds({}, now)).toBeUndefined();
  });
});

describe('errorFromTransportFailure', () => {
  it.each([
    ['timeout', 'upstream_timeout', 504, true],
    ['network', 'upstream_error', 502, true],
    ['blocked_address', 'upstream_error', 502, false],
    ['too_large', 'upstream_error', 502, false],
  ] as const)('maps reason %s to %s', (reason, code, status, retryable) => {
    const error = errorFromTransportFailure('bfl', new HttpClientError(reason, 'connect ECONNREFUSED 10.0.0.5:443'));
    expect(error.code).toBe(code);
    expect(error.status).toBe(status);
    expect(error.retryable).toBe(retryable);
    // Internal addresses in the transport message are not for clients.
    expect(error.message).not.toContain('10.0.0.5');
  });

  it('treats anything unknown as a retryable upstream_error and keeps the cause', () => {
    const cause = new TypeError('socket hang up');
    const error = errorFromTransportFailure('fal', cause);
    expect(error.code).toBe('upstream_error');
    expect(error.cause).toBe(cause);
  });

  it('passes a GatewayError through unchanged', () => {
    const original = invalidUpstreamResponse('bfl', 'missing id');
    expect(errorFromTransportFailure('bfl', original)).toBe(original);
  });
});

describe('moderationError', () => {
  it('answers moderation_blocked for gpt-image models, naming the input stage', () => {
    const error = moderationError({ provider: 'openai', model: 'gpt-image-1', stage: 'input', reasons: ['sexual'] });
    expect(error.code).toBe('moderation_blocked');
    expect(error.type).toBe('image_generation_user_error');
    expect(error.status).toBe(400);
    expect(error.message).toContain('prompt or input image');
    expect(error.toBody().error['moderation_details']).toEqual({ moderation_stage: 'input', categories: ['sexual'] });
  });

  it('answers moderation_blocked for chatgpt-image models too', () => {
    expect(moderationError({ provider: 'azure', model: 'chatgpt-image-latest', stage: 'output' }).code).toBe('moderation_blocked');
  });

  it('answers content_policy_violation for other models, naming the output stage', () => {
    const error = moderationError({ provider: 'bfl', model: 'flux-pro-1.1', stage: 'output', reasons: ['Sexual Content'] });
    expect(error.code).toBe('content_policy_violation');
    expect(error.type).toBe('invalid_request_error');
    expect(error.message).toContain('generated image');
    expect(error.message).not.toContain('prompt or input image');
    expect(error.toBody().error['moderation_details']).toEqual({ moderation_stage: 'output', categories: ['Sexual Content'] });
  });
});

describe('invalidUpstreamResponse', () => {
  it('is a retryable 502 upstream_invalid_response that says what was wrong', () => {
    const error = invalidUpstreamResponse('ideogram', 'data[0].url is missing');
    expect(error.code).toBe('upstream_invalid_response');
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('data[0].url is missing');
  });
});

describe('sanitizeUpstreamMessage', () => {
  it('removes given secrets, bearer tokens, key-shaped strings and keys in query strings', () => {
    const text = sanitizeUpstreamMessage(
      `key ${apiKey} used; Authorization: Bearer abcdefghijklmnop; google AIzaSyA1234567890abcdefghijklmnop; https://x.test/a?key=topsecret&b=1`,
      [apiKey],
    );
    expect(text).not.toContain(apiKey);
    expect(text).not.toContain('abcdefghijklmnop');
    expect(text).not.toContain('AIzaSyA1234567890');
    expect(text).not.toContain('topsecret');
    expect(text).toContain('b=1');
  });

  it('collapses control characters and whitespace', () => {
    expect(sanitizeUpstreamMessage('line one\n\n\tline\u0000two  ')).toBe('line one line two');
  });
});
