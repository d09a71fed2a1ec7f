// The minimal slices of fal's queue responses the adapter reads (submit, status, result, errors), validated on the way in.

import { invalidUpstreamResponse } from '../shared/upstream-errors.js';

export const falProviderName = 'fal';

export interface QueueSubmission {
  requestId: string;
  statusUrl: string;
  responseUrl: string;
  cancelUrl: string | undefined;
}

export type QueueStatus = 'IN_QUEUE' | 'IN_PROGRESS' | 'COMPLETED';

export interface ResultImage {
  url: string;
  contentType: string | undefined;
}

export interface GenerationResult {
  images: ResultImage[];
  /** Per image: true when the safety checker blacked it out. */
  nsfwFlags: boolean[];
}

export interface ErrorDetail {
  location: (string | number)[];
  message: string;
  type: string;
}

export function parseSubmission(body: Buffer): QueueSubmission {
  const parsed = parseObject(body, 'the queue submission');
  const requestId = parsed['request_id'];
  const statusUrl = parsed['status_url'];
  const responseUrl = parsed['response_url'];
  const cancelUrl = parsed['cancel_url'];
  if (typeof requestId !== 'string' || requestId === '') throw invalidUpstreamResponse(falProviderName, 'the queue submission has no request_id');
  if (typeof statusUrl !== 'string' || typeof responseUrl !== 'string') {
    throw invalidUpstreamResponse(falProviderName, 'the queue submission lacks status_url or response_url');
  }
  return { requestId, statusUrl, responseUrl, cancelUrl: typeof cancelUrl === 'string' ? cancelUrl : undefined };
}

export function parseStatus(body: Buffer): QueueStatus {
  const status = parseObject(body, 'the queue status')['status'];
  if (status === 'IN_QUEUE' || status === 'IN_PROGRESS' || status === 'COMPLETED') return status;
  throw invalidUpstreamResponse(falProviderName, `unknown queue status ${JSON.stringify(status)}`);
}

export function parseResult(body: Buffer): GenerationResult {
  const parsed = parseObject(body, 'the result');
  const images = parsed['images'];
  if (!Array.isArray(images)) throw invalidUpstreamResponse(falProviderName, 'the result has no images list');
  const parsedImages = images.map((image): ResultImage => {
    if (!isRecord(image) || typeof image['url'] !== 'string' || image['url'] === '') {
      throw invalidUpstreamResponse(falProviderName, 'a result image has no url');
    }
    const contentType = image['content_type'];
    return { url: image['url'], contentType: typeof contentType === 'string' ? contentType : undefined };
  });
  const flags = parsed['has_nsfw_concepts'];
  const nsfwFlags = Array.isArray(flags) ? parsedImages.map((_, index) => flags[index] === true) : parsedImages.map(() => false);
  return { images: parsedImages, nsfwFlags };
}

/** The FastAPI-style `detail[]` of a model error; empty when the body has none (e.g. `{"detail":"..."}`). */
export function parseErrorDetails(body: Buffer): ErrorDetail[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  if (!isRecord(parsed) || !Array.isArray(parsed['detail'])) return [];
  return parsed['detail'].filter(isRecord).map((entry) => ({
    location: Array.isArray(entry['loc']) ? entry['loc'].filter((part): part is string | number => typeof part === 'string' || typeof part === 'number') : [],
    message: typeof entry['msg'] === 'string' ? entry['msg'] : '',
    type: typeof entry['type'] === 'string' ? entry['type'] : '',
  }));
}

function parseObject(body: Buffer, what: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    throw invalidUpstreamResponse(falProviderName, `${what} is not valid JSON`);
  }
  if (!isRecord(parsed)) throw invalidUpstreamResponse(falProviderName, `${what} is not a JSON object`);
  return parsed;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
