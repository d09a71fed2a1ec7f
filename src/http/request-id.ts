// Request ids: the caller's own when it is a sane token (so ids can be traced across services), else a fresh one.

import { timeOrderedHex } from '../core/ids.js';

// Generated ids are in creation order (see timeOrderedHex): they key the request log, reservations
// and usage rows.
export function newRequestId(): string {
  return `req_${timeOrderedHex()}`;
}

export function requestIdFrom(header: string | string[] | undefined): string {
  if (typeof header === 'string' && /^[\w.:-]{1,128}$/.test(header)) return header;
  return newRequestId();
}

/** A request-log row's own id: unique, unlike request ids, which callers choose and may repeat. */
export function newLogEntryId(): string {
  return `log_${timeOrderedHex()}`;
}
