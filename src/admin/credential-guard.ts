// Slows down guessing of the admin token and of API keys at the console's sign-in: a client address that
// presents wrong credentials too often is refused (429, Retry-After) before its next guess is even
// compared. Failures are counted in the shared limiter store when one is configured (Redis), so a guesser
// spreading attempts over replicas meets one count; without one, each process counts alone.
// Only failures count: an operator who signs in correctly is never slowed down.

import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { GatewayError } from '../core/errors.js';
import { formatResetDuration } from '../ratelimit/limit-answers.js';
import type { LimiterFactory } from '../ratelimit/key-rate-limiter.js';

export interface CredentialGuardOptions {
  /** Wrong credentials allowed per client address in one window; default 20. */
  maxFailures?: number;
  /** The window, which is also the longest a client that used them up waits; default 10 minutes. */
  windowSeconds?: number;
}

export interface CredentialGuard {
  /** Refuses a client address that has used up its failures (checked before its credentials are). */
  check(clientIp: string): Promise<void>;
  /** Counts one wrong credential from this client address. */
  failed(clientIp: string): Promise<void>;
}

export function createCredentialGuard(limiters: LimiterFactory, options: CredentialGuardOptions = {}): CredentialGuard {
  const points = options.maxFailures ?? 20;
  const durationSeconds = options.windowSeconds ?? 10 * 60;
  const limiter: RateLimiterAbstract = limiters({ keyPrefix: 'admin-auth-failures', points, durationSeconds });

  const refused = (msBeforeNext: number): GatewayError =>
    new GatewayError(
      'rate_limit_exceeded',
      `Too many wrong credentials from this address: try again in ${formatResetDuration(msBeforeNext)}.`,
      { retryAfterSeconds: msBeforeNext / 1000 },
    );

  return {
    async check(clientIp) {
      const state = await limiter.get(clientIp);
      if (state !== null && state.consumedPoints >= points) throw refused(state.msBeforeNext);
    },
    async failed(clientIp) {
      try {
        await limiter.consume(clientIp);
      } catch (error) {
        // Over the limit: that is what check() answers next time; anything else is a store failure.
        if (!(error instanceof RateLimiterRes)) throw error;
      }
    },
  };
}
