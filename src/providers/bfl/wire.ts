// The few fields of BFL's submit and poll responses the adapter reads, checked on the way in.

import { isRecord, parseUpstreamJsonObject } from '../shared/json-answer.js';
import type { HttpResponse } from '../shared/types.js';
import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const bflProviderName = 'bfl';

export interface BflSubmitResponse {
  id: string;
  pollingUrl: string;
}

/** The six status strings of BFL's `StatusResponse` enum. */
export type BflStatus = 'Task not found' | 'Pending' | 'Request Moderated' | 'Content Moderated' | 'Ready' | 'Error';

export type BflPollResponse =
  | { status: 'Pending'; progress?: number }
  | { status: 'Ready'; sample: string }
  | { status: 'Request Moderated' | 'Content Moderated'; reasons: string[] }
  | { status: 'Error'; details: string }
  | { status: 'Task not found' }
  /** Anything else: BFL has been seen to send other in-flight spellings, so it counts as still running. */
  | { status: 'other'; upstreamStatus: string; progress?: number };

export function parseSubmitResponse(response: HttpResponse): BflSubmitResponse {
  const body = parseJsonObject(response, 'submit');
  const id = body['id'];
  const pollingUrl = body['polling_url'];
  if (typeof id !== 'string' || id === '') throw invalidUpstreamResponse(bflProviderName, 'the submit answer has no task id');
  if (typeof pollingUrl !== 'string' || !isHttpUrl(pollingUrl)) {
    throw invalidUpstreamResponse(bflProviderName, 'the submit answer has no usable polling_url');
  }
  return { id, pollingUrl };
}

export function parsePollResponse(response: HttpResponse): BflPollResponse {
  const body = parseJsonObject(response, 'poll');
  const status = body['status'];
  if (typeof status !== 'string') throw invalidUpstreamResponse(bflProviderName, 'the poll answer has no status');
  switch (status) {
    case 'Pending':
      return { status, ...progressOf(body['progress']) };
    case 'Ready': {
      const result = body['result'];
      const sample = isRecord(result) ? result['sample'] : undefined;
      if (typeof sample !== 'string' || !isHttpUrl(sample)) {
        throw invalidUpstreamResponse(bflProviderName, 'the task is Ready but its result has no sample URL');
      }
      return { status, sample };
    }
    case 'Request Moderated':
    case 'Content Moderated':
      return { status, reasons: moderationReasons(body['details']) };
    case 'Error':
      return { status, details: describeDetails(body['details']) };
    case 'Task not found':
      return { status };
    default:
      return { status: 'other', upstreamStatus: status, ...progressOf(body['progress']) };
  }
}

/** Progress as a percentage, when BFL reported one. */
function progressOf(progress: unknown): { progress?: number } {
  if (typeof progress !== 'number' || !Number.isFinite(progress)) return {};
  // BFL reports 0–1; a value above 1 can only be a percentage already.
  return { progress: progress <= 1 ? Math.round(progress * 100) : Math.round(progress) };
}

/** `details["Moderation Reasons"]` is a list of filter names. */
function moderationReasons(details: unknown): string[] {
  if (!isRecord(details)) return [];
  const reasons = details['Moderation Reasons'];
  return Array.isArray(reasons) ? reasons.filter((reason): reason is string => typeof reason === 'string') : [];
}

/** `details` of a failed task may be a string or an object. */
function describeDetails(details: unknown): string {
  if (typeof details === 'string') return details;
  if (isRecord(details)) {
    const message = details['message'] ?? details['error'] ?? details['detail'];
    if (typeof message === 'string') return message;
    return JSON.stringify(details);
  }
  return '';
}

const parseJsonObject = (response: HttpResponse, what: string): Record<string, unknown> => parseUpstreamJsonObject(bflProviderName, response, what);

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}
