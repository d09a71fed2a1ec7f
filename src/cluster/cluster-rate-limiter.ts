// Per-key rate limits shared by the workers of `server.workers: N`: the cluster's primary counts them
// with the same plain synchronous counters a single process uses (../ratelimit/in-process-rate-limiter.ts),
// and each worker asks it over the cluster's IPC channel. Every call a worker makes during one turn of
// its event loop goes in one message, and the primary answers each message with one message: a
// request's check (requests and images per minute) and its concurrency slot cost a share of two
// round trips, not the four JSON messages, four timers and four round trips of a store-backed limiter
// (rate-limiter-flexible's RateLimiterCluster). Leaving a slot needs no answer and rides along with
// the next message. A worker that dies gives its slots back (the primary drops what it held).

import { GatewayError, type ErrorCode } from '../core/errors.js';
import type { ApiKeyRecord } from '../core/ports/key-store.js';
import type { RateLimiter, RateLimitHeaders } from '../core/ports/rate-limiter.js';

const messageType = 'imagegate:limits';

/** What the primary's counters need of a key: its id, its limits, and its prefix for the refusal's message. */
type LimitedKey = Pick<ApiKeyRecord, 'id' | 'prefix' | 'rateLimits'>;

type Call =
  | { id: number; op: 'consume'; key: LimitedKey; images: number }
  | { id: number; op: 'enter'; key: LimitedKey }
  /** Gives back the slot taken by the `enter` call numbered `id`. */
  | { id: number; op: 'leave' };

interface SerializedError {
  code: ErrorCode;
  message: string;
  status: number;
  param: string | null;
  retryable: boolean;
  retryAfterSeconds?: number;
  details?: Record<string, unknown>;
  headers?: Record<string, string>;
}

type Answer = { id: number; headers: RateLimitHeaders } | { id: number; entered: true } | { id: number; error: SerializedError };

interface CallsMessage {
  type: typeof messageType;
  calls: Call[];
}

interface AnswersMessage {
  type: typeof messageType;
  answers: Answer[];
}

const isMessage = (message: unknown): message is { type: typeof messageType } => (message as { type?: unknown } | null)?.type === messageType;

function serialize(error: unknown): SerializedError {
  if (error instanceof GatewayError) {
    return {
      code: error.code,
      message: error.message,
      status: error.status,
      param: error.param,
      retryable: error.retryable,
      ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
      ...(error.details === undefined ? {} : { details: error.details }),
      ...(error.headers === undefined ? {} : { headers: error.headers }),
    };
  }
  return { code: 'server_error', message: 'The rate limiter failed.', status: 500, param: null, retryable: true };
}

function revive(error: SerializedError): GatewayError {
  return new GatewayError(error.code, error.message, {
    status: error.status,
    param: error.param,
    retryable: error.retryable,
    ...(error.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: error.retryAfterSeconds }),
    ...(error.details === undefined ? {} : { details: error.details }),
    ...(error.headers === undefined ? {} : { headers: error.headers }),
  });
}

/** One end of the IPC channel: a worker's `process`, or (in the primary) one worker. */
export interface LimitsChannel {
  send(message: unknown): void;
  onMessage(listener: (message: unknown) => void): void;
}

/**
 * The primary's side for one worker: answers its calls from `counters` (the one in-process limiter
 * every worker shares). Returns what to call when that worker is gone: its slots are given back.
 */
export function serveLimits(counters: RateLimiter, worker: LimitsChannel): () => void {
  const slots = new Map<number, () => void>();
  worker.onMessage((message) => {
    if (!isMessage(message)) return;
    const calls = (message as CallsMessage).calls;
    const answers: Array<Promise<Answer | undefined>> = calls.map(async (call): Promise<Answer | undefined> => {
      try {
        if (call.op === 'leave') {
          slots.get(call.id)?.();
          slots.delete(call.id);
          return undefined;
        }
        // The counters read only the key's id, prefix and limits (the worker sends no more).
        const key = call.key as ApiKeyRecord;
        if (call.op === 'consume') return { id: call.id, headers: await counters.consume(key, call.images) };
        slots.set(call.id, await counters.enter(key));
        return { id: call.id, entered: true };
      } catch (error) {
        return { id: call.id, error: serialize(error) };
      }
    });
    void Promise.all(answers).then((settled) => {
      const reply = settled.filter((answer): answer is Answer => answer !== undefined);
      if (reply.length > 0) worker.send({ type: messageType, answers: reply } satisfies AnswersMessage);
    });
  });
  return () => {
    for (const release of slots.values()) release();
    slots.clear();
  };
}

/** A worker's RateLimiter: every call goes to the primary, batched per turn of the event loop. */
export function createClusterRateLimiter(primary: LimitsChannel): RateLimiter {
  const waiting = new Map<number, { resolve(answer: Answer): void }>();
  let queued: Call[] = [];
  let nextId = 1;

  const flush = () => {
    const calls = queued;
    queued = [];
    primary.send({ type: messageType, calls } satisfies CallsMessage);
  };
  const enqueue = (call: Call) => {
    if (queued.length === 0) setImmediate(flush);
    queued.push(call);
  };
  const ask = (call: Call): Promise<Answer> =>
    new Promise((resolve) => {
      waiting.set(call.id, { resolve });
      enqueue(call);
    });

  primary.onMessage((message) => {
    if (!isMessage(message)) return;
    for (const answer of (message as AnswersMessage).answers) {
      const pending = waiting.get(answer.id);
      waiting.delete(answer.id);
      pending?.resolve(answer);
    }
  });

  const facts = (key: ApiKeyRecord): LimitedKey => ({ id: key.id, prefix: key.prefix, rateLimits: key.rateLimits });

  return {
    async consume(key, images) {
      const { requestsPerMinute, imagesPerMinute } = key.rateLimits;
      if (requestsPerMinute === null && imagesPerMinute === null) return {};
      const answer = await ask({ id: nextId++, op: 'consume', key: facts(key), images });
      if ('error' in answer) throw revive(answer.error);
      return 'headers' in answer ? answer.headers : {};
    },

    async enter(key) {
      if (key.rateLimits.concurrentRequests === null) return () => undefined;
      const id = nextId++;
      const answer = await ask({ id, op: 'enter', key: facts(key) });
      if ('error' in answer) throw revive(answer.error);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        enqueue({ id, op: 'leave' });
      };
    },
  };
}
