// A circuit breaker per channel: opens after consecutive retryable failures, lets one probe through
// after a cool-down (half-open), closes when the probe succeeds. Time comes from the injected Clock.

import type { Clock } from '../core/ports/clock.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive retryable failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit rejects before it lets a probe through. */
  cooldownMs: number;
  clock: Clock;
  /** Told of every change of state (for the operator's log). */
  onStateChange?: (state: CircuitState, previous: CircuitState) => void;
}

/**
 * Leave to call upstream once. Exactly one of its methods is called when the attempt ends: the
 * outcome of a call started before the circuit opened does not count twice, and only the probe
 * decides how a half-open circuit ends.
 */
export interface BreakerPermit {
  /** The upstream answered with images. */
  success(): void;
  /** A retryable failure (5xx, 429, timeout, connection trouble). */
  failure(): void;
  /** Says nothing about the channel's health (validation, moderation, client gone, never sent). */
  neutral(): void;
}

export interface CircuitBreakerSnapshot {
  state: CircuitState;
  consecutiveFailures: number;
  /** While open: when a probe will be let through (ms since epoch). */
  retryAt: number | undefined;
}

export class CircuitBreaker {
  readonly #options: CircuitBreakerOptions;
  #state: 'closed' | 'open' | 'half_open' = 'closed';
  #consecutiveFailures = 0;
  #openedAt = 0;
  #probeInFlight = false;

  constructor(options: CircuitBreakerOptions) {
    if (!(options.failureThreshold >= 1)) throw new RangeError('failureThreshold must be at least 1');
    if (!(options.cooldownMs >= 0)) throw new RangeError('cooldownMs must not be negative');
    this.#options = options;
  }

  /** A permit to call upstream now, or undefined while the circuit rejects (open, or a probe is out). */
  tryAcquire(): BreakerPermit | undefined {
    if (this.#state === 'open') {
      if (this.#options.clock.now() < this.#openedAt + this.#options.cooldownMs) return undefined;
      this.#transition('half_open');
    }
    if (this.#state === 'half_open') {
      if (this.#probeInFlight) return undefined;
      this.#probeInFlight = true;
      return this.#permit(true);
    }
    return this.#permit(false);
  }

  snapshot(): CircuitBreakerSnapshot {
    const coolingDown = this.#state === 'open' && this.#options.clock.now() < this.#openedAt + this.#options.cooldownMs;
    const state: CircuitState = this.#state === 'open' && !coolingDown ? 'half_open' : this.#state;
    return {
      state,
      consecutiveFailures: this.#consecutiveFailures,
      retryAt: this.#state === 'open' ? this.#openedAt + this.#options.cooldownMs : undefined,
    };
  }

  /** Milliseconds until an open circuit lets a probe through; 0 when it would now. */
  retryAfterMs(): number {
    if (this.#state !== 'open') return 0;
    return Math.max(0, this.#openedAt + this.#options.cooldownMs - this.#options.clock.now());
  }

  #permit(probe: boolean): BreakerPermit {
    let settled = false;
    const settle = (outcome: 'success' | 'failure' | 'neutral') => {
      if (settled) return;
      settled = true;
      if (probe) this.#endProbe(outcome);
      else this.#record(outcome);
    };
    return { success: () => settle('success'), failure: () => settle('failure'), neutral: () => settle('neutral') };
  }

  #endProbe(outcome: 'success' | 'failure' | 'neutral'): void {
    this.#probeInFlight = false;
    if (this.#state !== 'half_open') return;
    if (outcome === 'success') {
      this.#consecutiveFailures = 0;
      this.#transition('closed');
    } else if (outcome === 'failure') {
      this.#consecutiveFailures += 1;
      this.#open();
    }
    // neutral: the probe proved nothing; the next request probes instead.
  }

  #record(outcome: 'success' | 'failure' | 'neutral'): void {
    // Answers to calls started before the circuit opened neither close nor re-open it.
    if (this.#state !== 'closed') return;
    if (outcome === 'success') this.#consecutiveFailures = 0;
    else if (outcome === 'failure') {
      this.#consecutiveFailures += 1;
      if (this.#consecutiveFailures >= this.#options.failureThreshold) this.#open();
    }
  }

  #open(): void {
    this.#openedAt = this.#options.clock.now();
    this.#transition('open');
  }

  #transition(next: 'closed' | 'open' | 'half_open'): void {
    const previous = this.#state;
    this.#state = next;
    if (previous !== next) this.#options.onStateChange?.(next, previous);
  }
}
