// An upstream's JSON answer read as an object, or an `upstream_invalid_response` naming the provider.

import type { HttpResponse } from './types.js';
import { invalidUpstreamResponse } from './upstream-errors.js';

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `what` names the answer in the error ("the status answer is not JSON"). */
export function parseUpstreamJsonObject(provider: string, response: HttpResponse, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(provider, `the ${what} answer is not JSON`);
  }
  if (!isRecord(parsed)) throw invalidUpstreamResponse(provider, `the ${what} answer is not a JSON object`);
  return parsed;
}
