// The one way the Google adapter talks to the Gemini API: POST JSON with the key header, and turn
// every failure (Google's error bodies, transport failures, aborts) into the gateway's taxonomy.

import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ProviderWarning } from '../../core/ports/image-model.js';
import type { HttpResponse, ProviderSettings } from '../shared/types.js';
import { requestUpstream, errorFromUpstreamResponse, moderationError, withStatus } from '../shared/upstream-errors.js';
import { googleProviderName, parseGoogleError } from './wire.js';

export const googleDefaultBaseURL = 'https://generativelanguage.googleapis.com/v1beta';
/** Gemini 3 Pro Image at 2K/4K can take over a minute, past the HTTP client's 60 s default. */
export const googleDefaultTimeoutMs = 180_000;

/** Imagen refuses a flagged prompt with a plain 400 whose message cites Google's Responsible AI practices. */
const promptRefusalPattern = /Responsible AI practices|contains sensitive words|prompt could not be submitted/i;

export async function postToGoogle(
  settings: ProviderSettings,
  path: string,
  body: unknown,
  options: Pick<ImageCallOptions, 'abortSignal' | 'model'>,
): Promise<HttpResponse> {
  const baseURL = (settings.baseURL || googleDefaultBaseURL).replace(/\/+$/, '');
  const response = await requestUpstream(settings.http, googleProviderName, `${baseURL}${path}`, {
    method: 'POST',
    headers: { 'x-goog-api-key': settings.apiKey, accept: 'application/json' },
    json: body,
    signal: options.abortSignal,
    timeoutMs: settings.timeoutMs ?? googleDefaultTimeoutMs,
  });
  if (response.status >= 200 && response.status < 300) return response;
  throw errorFromGoogleResponse(settings, response, options.model);
}

function errorFromGoogleResponse(settings: ProviderSettings, response: HttpResponse, model: string): GatewayError {
  const secrets = [settings.apiKey];
  const described = parseGoogleError(response.body);
  const message = described.message === undefined ? {} : { message: described.message };

  // A wrong key is a 400 INVALID_ARGUMENT at Google, not a 401: treat it as the credential failure it is.
  if (response.status === 400 && (described.reasons.includes('API_KEY_INVALID') || /API key (not valid|not found|expired)/i.test(described.message ?? ''))) {
    return errorFromUpstreamResponse(googleProviderName, withStatus(response, 401), { secrets });
  }
  if (response.status === 400 && promptRefusalPattern.test(described.message ?? '')) {
    return moderationError({ provider: googleProviderName, model, stage: 'input' });
  }
  const error = errorFromUpstreamResponse(googleProviderName, response, { secrets, ...message });
  // Google states the wait in a RetryInfo detail of the body rather than in a retry-after header.
  if (error.code === 'upstream_rate_limited' && error.retryAfterSeconds === undefined && described.retryDelaySeconds !== undefined) {
    return new GatewayError(error.code, error.message, { retryable: true, retryAfterSeconds: described.retryDelaySeconds, cause: error.cause });
  }
  return error;
}

/**
 * `providerOptions` go into the request as-is; where both we and the caller set an object (such as
 * `generationConfig`), the caller's fields are added to ours rather than replacing them wholesale.
 */
export function mergeProviderOptions(body: Record<string, unknown>, providerOptions: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...body };
  for (const [key, value] of Object.entries(providerOptions)) {
    const ours = merged[key];
    merged[key] = isPlainObject(ours) && isPlainObject(value) ? { ...ours, ...value } : value;
  }
  return merged;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Warnings for the OpenAI options neither Gemini nor Imagen has a field for. */
export function unsupportedOptionWarnings(options: ImageCallOptions, family: string): ProviderWarning[] {
  const warnings: ProviderWarning[] = [];
  if (options.quality !== undefined && options.quality !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'quality', message: `${family} has no quality setting; ignored.` });
  }
  if (options.style !== undefined) warnings.push({ type: 'unsupported', param: 'style', message: `${family} has no style setting; ignored.` });
  if (options.background === 'transparent') {
    warnings.push({ type: 'unsupported', param: 'background', message: `${family} cannot make transparent backgrounds; the image is opaque.` });
  }
  if (options.moderation !== undefined && options.moderation !== 'auto') {
    warnings.push({ type: 'unsupported', param: 'moderation', message: `${family} moderation is set by Google; ignored.` });
  }
  if (options.user !== undefined) warnings.push({ type: 'unsupported', param: 'user', message: `${family} takes no end-user identifier; not sent.` });
  return warnings;
}
