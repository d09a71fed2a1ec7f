// The bytes of request bodies one process holds at once (`server.body_memory_mb`). Each body is bounded
// by `server.body_limit_mb`, but not how many arrive together: forty clients uploading 64 MB edits at
// once would hold 2.5 GB of bodies before a single one was validated, and the process (with every
// request in flight on it) would be killed for its memory. A body that does not fit is answered
// `503 service_unavailable` with Retry-After before it is read (a declared Content-Length), or the moment
// its running total does not fit (a chunked body); its connection then closes (./app.ts's onSend).
// A body is held until its answer is over — finished, failed or abandoned — since the request works on
// it (and on what is made of it) until then.
//
// Bodies under 64 KB (every generation's JSON) are not counted: they are not what fills memory, and a
// hook that only reads one header keeps the small request's path as it was.

import { Transform, type TransformCallback } from 'node:stream';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { GatewayError } from '../core/errors.js';

/** server.body_memory_mb's default: four bodies at the default body limit, or hundreds of ordinary edits. */
export const defaultBodyMemoryBytes = 256 * 1024 * 1024;

/** Bodies smaller than this, by their Content-Length, are not counted. */
const countedFromBytes = 64 * 1024;

export class BodyBudget {
  readonly #limitBytes: number;
  #heldBytes = 0;

  constructor(limitBytes: number) {
    this.#limitBytes = limitBytes;
  }

  /** The budget `server.body_memory_mb` sets, or (unset) 256 MB, and never less than one body at the limit. */
  static forSettings(bodyMemoryBytes: number | undefined, bodyLimitBytes: number): BodyBudget {
    return new BodyBudget(bodyMemoryBytes ?? Math.max(defaultBodyMemoryBytes, bodyLimitBytes));
  }

  /** Bytes of bodies held now (the metrics' imagegate_request_body_bytes_held). */
  get heldBytes(): number {
    return this.#heldBytes;
  }

  /** Takes `bytes` when they fit in what is left; false (and nothing taken) when they do not. */
  tryTake(bytes: number): boolean {
    if (this.#heldBytes + bytes > this.#limitBytes) return false;
    this.#heldBytes += bytes;
    return true;
  }

  release(bytes: number): void {
    this.#heldBytes -= bytes;
  }
}

function busy(): GatewayError {
  return new GatewayError(
    'service_unavailable',
    'The gateway is holding as many request bodies in memory as it is allowed to (server.body_memory_mb). Retry shortly.',
    { retryAfterSeconds: 1 },
  );
}

const ignore = (): void => undefined;

/** Gives `bytes` back once the answer is over: 'close' comes when it finished and when it was abandoned. */
function releaseWhenAnswered(reply: FastifyReply, budget: BodyBudget, bytes: () => number): void {
  reply.raw.once('close', () => budget.release(bytes()));
}

/** A chunked body, counted against the budget chunk by chunk as it is read. */
class CountedBody extends Transform {
  #counted = 0;
  readonly #budget: BodyBudget;

  constructor(budget: BodyBudget) {
    super();
    this.#budget = budget;
  }

  get countedBytes(): number {
    return this.#counted;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (!this.#budget.tryTake(chunk.length)) {
      callback(busy());
      return;
    }
    this.#counted += chunk.length;
    callback(null, chunk);
  }
}

export function registerBodyBudget(app: FastifyInstance, budget: BodyBudget, bodyLimitBytes: number): void {
  // A callback hook: an async one costs a promise and a microtask on every request.
  app.addHook('preParsing', (request, reply, payload, done) => {
    const length = request.headers['content-length'];
    if (length !== undefined) {
      const declared = Number(length);
      // A small body, or one Fastify refuses whole (413) before reading it, holds nothing here.
      if (!(declared >= countedFromBytes) || declared > bodyLimitBytes) {
        done(null, payload);
        return;
      }
      if (!budget.tryTake(declared)) {
        done(busy());
        return;
      }
      releaseWhenAnswered(reply, budget, () => declared);
      done(null, payload);
      return;
    }
    // Neither Content-Length nor Transfer-Encoding: no body.
    if (request.headers['transfer-encoding'] === undefined) {
      done(null, payload);
      return;
    }
    const counted = new CountedBody(budget);
    releaseWhenAnswered(reply, budget, () => counted.countedBytes);
    // A body cut short (the client gone) ends the read with its error, so Fastify's reader answers
    // instead of waiting for an end that never comes. Once Fastify has stopped reading (the answer sent)
    // nobody listens for the error any more, and an unheard 'error' event would throw: it is ignored.
    counted.on('error', ignore);
    payload.on('error', (error) => counted.destroy(error));
    done(null, payload.pipe(counted));
  });
}
