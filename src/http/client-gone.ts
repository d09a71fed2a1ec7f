// A client gone before its answer was complete: how the HTTP layer tells (the request's abort, the
// request log and the metrics all ask the same question) and the status it is recorded with.

import type { FastifyReply } from 'fastify';

/** nginx's status for a request whose client closed the connection before the answer was complete. */
export const clientClosedStatus = 499;

/** Calls `abandoned` when the client closes the connection before the answer was complete. */
export function onAbandoned(reply: FastifyReply, abandoned: () => void): void {
  const response = reply.raw;
  // 'close' comes after 'finish' for an answer that was complete, and alone for one that was not. An
  // answer that failed with an 'error' event was seen by Fastify's onResponse already.
  response.once('close', () => {
    if (!response.writableFinished && response.errored === null) abandoned();
  });
}
