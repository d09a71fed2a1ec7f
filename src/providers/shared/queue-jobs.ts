// What the queue-style adapters (fal, Replicate, BFL) share: keeping the API key on the configured
// host, riding out transient poll failures, cancelling upstream on abort or time-out, data-URI images.

import { parseBase64DataUrl } from '../../core/data-url.js';
import { GatewayError } from '../../core/errors.js';

/** Whether `url` has the origin of `baseURL`; a URL that does not parse never does. */
export function sameOrigin(url: string, baseURL: string): boolean {
  try {
    return new URL(url).origin === new URL(baseURL).origin;
  } catch {
    return false;
  }
}

/**
 * The bytes of a base64 `data:` URI and the media type it declares (undefined when it declares
 * none, so the caller picks the fallback); undefined when the URI is not base64.
 */
export function decodeBase64DataUri(uri: string): { data: Buffer; mediaType: string | undefined } | undefined {
  const parsed = parseBase64DataUrl(uri);
  return parsed.ok ? { data: parsed.data, mediaType: parsed.mediaType } : undefined;
}

/** A 429, a 5xx or a network failure while polling: the job upstream is most likely still running. */
export function isTransientUpstreamFailure(error: unknown): boolean {
  return error instanceof GatewayError && error.retryable && (error.code === 'upstream_error' || error.code === 'upstream_rate_limited');
}

export interface TransientFailureAllowance {
  /**
   * Rethrows `error` unless it is transient and at most `allowed` have come in a row; when it
   * returns, the caller polls again. The job is already paid for, so a blip must not lose it.
   */
  rideOut(error: unknown): void;
  /** A poll got through: the count starts again. */
  reset(): void;
}

/** `isTransient` is for an upstream whose own failures say more (BFL also rides out a poll that timed out). */
export function transientFailureAllowance(allowed: number, isTransient: (error: unknown) => boolean = isTransientUpstreamFailure): TransientFailureAllowance {
  let inARow = 0;
  return {
    rideOut(error) {
      if (!isTransient(error) || ++inARow > allowed) throw error;
    },
    reset() {
      inARow = 0;
    },
  };
}

/**
 * Runs `work` (waiting for a job); when the caller aborts or the wait times out, the job is
 * cancelled upstream first so it stops costing money. An abort rethrows the caller's own reason.
 */
export async function cancelUpstreamOnAbortOrTimeout<T>(work: () => Promise<T>, signal: AbortSignal, cancel: () => Promise<void>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (signal.aborted) {
      await cancel();
      throw signal.reason;
    }
    if (error instanceof GatewayError && error.code === 'upstream_timeout') await cancel();
    throw error;
  }
}
