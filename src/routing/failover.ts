// The failover loop: tries a model's channels in order, moving on after a retryable failure only
// while no upstream has accepted the job, and turning what it saw into the client's error.

import { GatewayError, isGatewayError } from '../core/errors.js';
import type { ModelRoute, RouteAttempt, RoutedResult } from '../core/ports/model-router.js';
import type { CircuitBreaker } from './circuit-breaker.js';
import { ChannelBusyError, type ConcurrencyLease } from './concurrency-limiter.js';

/** One channel as the loop sees it. */
export interface FailoverTarget {
  channel: string;
  breaker: CircuitBreaker;
  /** The channel's concurrency limit (this process's, or shared by the replicas). */
  limiter: { acquire(permits: number, signal: AbortSignal): Promise<ConcurrencyLease> };
  /** The route for the next attempt on this channel (rotating its keys); undefined when no key is left. */
  nextRoute(): { route: ModelRoute; keyPosition: number; warnings: string[] } | undefined;
  /**
   * The upstream rejected the key at `keyPosition` (401/403), or its account is out of credit.
   * Resolves true when the channel has another key to try; false when it has none left (the channel
   * is then disabled, with the reason).
   */
  rejectKey(keyPosition: number, error: GatewayError): Promise<boolean>;
}

export interface FailoverOptions {
  /** Upstream attempts at most, across channels (skipped channels do not count). */
  maxAttempts: number;
  signal: AbortSignal;
  /** Concurrency slots an attempt on this route holds (its upstream calls). */
  permitsFor(route: ModelRoute): number;
  /** Told of each failed attempt the loop may go on from (attempts left, job not accepted), for the operator's log. */
  onFailover?: (event: { channel: string; error: GatewayError; attempt: number }) => void;
}

type Verdict = 'next_channel' | 'same_channel' | 'stop';

export async function runWithFailover<T>(targets: readonly FailoverTarget[], options: FailoverOptions, attempt: RouteAttempt<T>): Promise<RoutedResult<T>> {
  let attempts = 0;
  let lastError: unknown;
  let busyChannels = 0;
  let openCircuitWaitMs: number | undefined;

  for (let index = 0; index < targets.length && attempts < options.maxAttempts; ) {
    const target = targets[index];
    if (target === undefined) break;
    options.signal.throwIfAborted();

    const permit = target.breaker.tryAcquire();
    if (permit === undefined) {
      const wait = target.breaker.retryAfterMs();
      openCircuitWaitMs = openCircuitWaitMs === undefined ? wait : Math.min(openCircuitWaitMs, wait);
      index += 1;
      continue;
    }
    const next = target.nextRoute();
    if (next === undefined) {
      permit.neutral();
      index += 1;
      continue;
    }

    let lease;
    try {
      lease = await target.limiter.acquire(options.permitsFor(next.route), options.signal);
    } catch (error) {
      permit.neutral();
      if (!(error instanceof ChannelBusyError)) throw error;
      busyChannels += 1;
      index += 1;
      continue;
    }

    attempts += 1;
    let accepted = false;
    try {
      const value = await attempt(next.route, { markAccepted: () => (accepted = true) });
      permit.success();
      return { value, route: next.route, attempts, warnings: next.warnings };
    } catch (error) {
      if (options.signal.aborted) {
        // The client left: nothing was learnt about the channel.
        permit.neutral();
        throw error;
      }
      const verdict = await judge(error, target, next.keyPosition, permit);
      lastError = error;
      // A job an upstream accepted is never submitted elsewhere, whatever became of it.
      if (verdict === 'stop' || accepted) throw error;
      if (attempts < options.maxAttempts && isGatewayError(error)) options.onFailover?.({ channel: target.channel, error, attempt: attempts });
      if (verdict === 'next_channel') index += 1;
    } finally {
      lease.release();
    }
  }

  if (lastError !== undefined) throw lastError;
  if (busyChannels > 0) {
    throw new GatewayError('upstream_busy', 'Every channel serving this model is at its concurrency limit. Please retry shortly.', { retryAfterSeconds: 1 });
  }
  if (openCircuitWaitMs !== undefined) {
    throw new GatewayError('service_unavailable', 'Every channel serving this model is failing and paused; please retry later.', {
      retryAfterSeconds: Math.max(1, Math.ceil(openCircuitWaitMs / 1000)),
    });
  }
  throw new GatewayError('service_unavailable', 'No enabled channel can serve this model right now.');
}

/** What a failed attempt means for the channel's health and for the request. */
async function judge(error: unknown, target: FailoverTarget, keyPosition: number, permit: { failure(): void; neutral(): void }): Promise<Verdict> {
  if (!isGatewayError(error)) {
    permit.neutral();
    return 'stop';
  }
  if (error.code === 'upstream_auth_failed' || error.code === 'upstream_out_of_funds') {
    // The client's request is fine; this key (or the channel's account) is unusable until the
    // operator acts. Retrying it, or waiting as for a rate limit, never helps; the next channel may.
    permit.neutral();
    return (await target.rejectKey(keyPosition, error)) ? 'same_channel' : 'next_channel';
  }
  if (error.retryable) {
    permit.failure();
    return 'next_channel';
  }
  // Validation, moderation, a task that ran and failed: another channel would answer the same,
  // and none of it says the channel is unhealthy.
  permit.neutral();
  return 'stop';
}
