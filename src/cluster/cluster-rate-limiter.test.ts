// The workers' limiter (counted in the cluster's primary) against the RateLimiter conformance suite:
// two workers' limiters talk to one primary over channels that behave like the cluster's IPC (each
// message serialised, delivered on a later turn). And what only a cluster has: a worker that dies
// gives its concurrency slots back.

import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newKeyRecord } from '../core/api-keys.js';
import { systemClock } from '../core/ports/clock.js';
import type { RateLimiter } from '../core/ports/rate-limiter.js';
import { createInProcessRateLimiter } from '../ratelimit/in-process-rate-limiter.js';
import { describeRateLimiterConformance } from '../testing/conformance/rate-limiter.conformance.js';
import { createClusterRateLimiter, serveLimits, type LimitsChannel } from './cluster-rate-limiter.js';

/** Both ends of one worker's IPC channel; `messages` counts what the worker sent. */
function ipcPair(): { worker: LimitsChannel; primary: LimitsChannel; sent: () => number; cut(): void } {
  const toPrimary: Array<(message: unknown) => void> = [];
  const toWorker: Array<(message: unknown) => void> = [];
  let sent = 0;
  let connected = true;
  const deliver = (listeners: Array<(message: unknown) => void>, message: unknown) => {
    const copy = JSON.stringify(message);
    setImmediate(() => {
      if (connected) for (const listener of listeners) listener(JSON.parse(copy));
    });
  };
  return {
    worker: {
      send: (message) => {
        sent += 1;
        deliver(toPrimary, message);
      },
      onMessage: (listener) => void toWorker.push(listener),
    },
    primary: { send: (message) => deliver(toWorker, message), onMessage: (listener) => void toPrimary.push(listener) },
    sent: () => sent,
    cut: () => void (connected = false),
  };
}

function cluster(workers: number) {
  const counters = createInProcessRateLimiter(systemClock);
  return Array.from({ length: workers }, () => {
    const channel = ipcPair();
    const workerGone = serveLimits(counters, channel.primary);
    return { limiter: createClusterRateLimiter(channel.worker), channel, workerGone };
  });
}

describeRateLimiterConformance('cluster workers counted in the primary', async () => {
  const [first, second] = cluster(2);
  return { replicas: [first!.limiter, second!.limiter] as [RateLimiter, RateLimiter], cleanup: async () => undefined };
});

describe('the workers’ limiter', () => {
  const key = (concurrentRequests: number | null, requestsPerMinute: number | null) => {
    const record = newKeyRecord(`sk-cluster-${randomUUID()}`, { name: 'limited', source: 'admin', now: Date.now() });
    return { ...record, rateLimits: { ...record.rateLimits, concurrentRequests, requestsPerMinute } };
  };

  it('gives back the slots of a worker that died', async () => {
    const [doomed, survivor] = cluster(2);
    const limited = key(2, null);
    await doomed!.limiter.enter(limited);
    await doomed!.limiter.enter(limited);
    await expect(survivor!.limiter.enter(limited)).rejects.toMatchObject({ code: 'rate_limit_exceeded', status: 429 });

    doomed!.channel.cut();
    doomed!.workerGone();
    await expect(survivor!.limiter.enter(limited)).resolves.toBeTypeOf('function');
  });

  it('sends the calls of one turn in one message', async () => {
    const [only] = cluster(1);
    const limited = key(100, 100);
    const admitted = await Promise.all(Array.from({ length: 20 }, () => only!.limiter.consume(limited, 1)));
    expect(admitted.at(-1)).toMatchObject({ 'x-ratelimit-limit-requests': '100', 'x-ratelimit-remaining-requests': '80' });
    expect(only!.channel.sent()).toBe(1);
    const slots = await Promise.all(Array.from({ length: 20 }, () => only!.limiter.enter(limited)));
    expect(only!.channel.sent()).toBe(2);
    // Leaving needs no answer: the twenty releases go in the next message.
    for (const release of slots) release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(only!.channel.sent()).toBe(3);
  });
});
