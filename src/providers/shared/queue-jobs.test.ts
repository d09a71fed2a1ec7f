// The queue-style adapters' shared pieces: which hosts get the key, data-URI images, which poll
// failures are ridden out and how many, and when a job is cancelled upstream.

import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import { cancelUpstreamOnAbortOrTimeout, decodeBase64DataUri, isTransientUpstreamFailure, sameOrigin, transientFailureAllowance } from './queue-jobs.js';

describe('sameOrigin', () => {
  it('accepts only the scheme, host and port of the base URL', () => {
    expect(sameOrigin('https://queue.fal.run/fal-ai/flux/requests/1/status', 'https://queue.fal.run')).toBe(true);
    expect(sameOrigin('https://api.replicate.com/v1/predictions/x', 'https://api.replicate.com/v1')).toBe(true);
    expect(sameOrigin('http://queue.fal.run/x', 'https://queue.fal.run')).toBe(false);
    expect(sameOrigin('https://queue.fal.run:8443/x', 'https://queue.fal.run')).toBe(false);
    expect(sameOrigin('https://evil.example/queue.fal.run', 'https://queue.fal.run')).toBe(false);
  });

  it('refuses what does not parse as a URL', () => {
    expect(sameOrigin('/relative/path', 'https://queue.fal.run')).toBe(false);
    expect(sameOrigin('https://queue.fal.run/x', 'not a url')).toBe(false);
  });
});

describe('decodeBase64DataUri', () => {
  it('decodes the bytes and reports the declared media type, parameters allowed', () => {
    expect(decodeBase64DataUri('data:image/png;base64,QUJD')).toEqual({ data: Buffer.from('ABC'), mediaType: 'image/png' });
    expect(decodeBase64DataUri('data:image/jpeg;name=out.jpg;base64,QUJD')).toEqual({ data: Buffer.from('ABC'), mediaType: 'image/jpeg' });
  });

  it('leaves the media type to the caller when the URI names none', () => {
    expect(decodeBase64DataUri('data:;base64,QUJD')).toEqual({ data: Buffer.from('ABC'), mediaType: undefined });
  });

  it('answers undefined for a data URI that is not base64', () => {
    expect(decodeBase64DataUri('data:image/png,rawtext')).toBeUndefined();
    expect(decodeBase64DataUri('https://example.com/a.png')).toBeUndefined();
  });
});

describe('transient poll failures', () => {
  const serverError = new GatewayError('upstream_error', 'HTTP 503', { retryable: true });
  const rateLimited = new GatewayError('upstream_rate_limited', 'HTTP 429', { retryable: true });

  it('counts retryable upstream errors and rate limits as transient, nothing else', () => {
    expect(isTransientUpstreamFailure(serverError)).toBe(true);
    expect(isTransientUpstreamFailure(rateLimited)).toBe(true);
    expect(isTransientUpstreamFailure(new GatewayError('upstream_error', 'failed for good', { retryable: false }))).toBe(false);
    expect(isTransientUpstreamFailure(new GatewayError('upstream_auth_failed', 'HTTP 401'))).toBe(false);
    expect(isTransientUpstreamFailure(new Error('not a gateway error'))).toBe(false);
  });

  it('rides out `allowed` transient failures in a row and rethrows the next', () => {
    const failures = transientFailureAllowance(3);
    for (let count = 0; count < 3; count += 1) expect(() => failures.rideOut(serverError)).not.toThrow();
    expect(() => failures.rideOut(rateLimited)).toThrow(rateLimited);
  });

  it('starts counting again after a poll got through', () => {
    const failures = transientFailureAllowance(1);
    failures.rideOut(serverError);
    failures.reset();
    expect(() => failures.rideOut(serverError)).not.toThrow();
    expect(() => failures.rideOut(serverError)).toThrow(serverError);
  });

  it("takes the upstream's own idea of transient when given one", () => {
    const pollTimedOut = new GatewayError('upstream_timeout', 'the poll request timed out', { retryable: true });
    expect(() => transientFailureAllowance(3).rideOut(pollTimedOut)).toThrow(pollTimedOut);
    const failures = transientFailureAllowance(1, (error) => error instanceof GatewayError && error.code === 'upstream_timeout');
    expect(() => failures.rideOut(pollTimedOut)).not.toThrow();
    expect(() => failures.rideOut(serverError)).toThrow(serverError);
  });

  it('rethrows a failure that is not transient at once', () => {
    const permanent = new GatewayError('upstream_auth_failed', 'HTTP 401');
    expect(() => transientFailureAllowance(3).rideOut(permanent)).toThrow(permanent);
  });
});

describe('cancelUpstreamOnAbortOrTimeout', () => {
  const counting = () => {
    const calls = { cancels: 0 };
    return { calls, cancel: async () => void (calls.cancels += 1) };
  };

  it('answers the result and cancels nothing when the work succeeds', async () => {
    const { calls, cancel } = counting();
    await expect(cancelUpstreamOnAbortOrTimeout(async () => 'done', new AbortController().signal, cancel)).resolves.toBe('done');
    expect(calls.cancels).toBe(0);
  });

  it("cancels and rethrows the caller's reason when the caller aborted", async () => {
    const { calls, cancel } = counting();
    const controller = new AbortController();
    const reason = new Error('client went away');
    const work = async () => {
      controller.abort(reason);
      throw new Error('aborted while polling');
    };
    await expect(cancelUpstreamOnAbortOrTimeout(work, controller.signal, cancel)).rejects.toBe(reason);
    expect(calls.cancels).toBe(1);
  });

  it('cancels and rethrows an upstream time-out', async () => {
    const { calls, cancel } = counting();
    const timeout = new GatewayError('upstream_timeout', 'fal did not finish the job within 1 s');
    await expect(cancelUpstreamOnAbortOrTimeout(() => Promise.reject(timeout), new AbortController().signal, cancel)).rejects.toBe(timeout);
    expect(calls.cancels).toBe(1);
  });

  it('leaves the job alone on any other failure', async () => {
    const { calls, cancel } = counting();
    const failure = new GatewayError('upstream_error', 'the prediction failed');
    await expect(cancelUpstreamOnAbortOrTimeout(() => Promise.reject(failure), new AbortController().signal, cancel)).rejects.toBe(failure);
    expect(calls.cancels).toBe(0);
  });
});
