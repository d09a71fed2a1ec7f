// What every provider adapter is built from: the channel's settings and the one outbound HTTP client.

import type { Clock } from '../../core/ports/clock.js';

export type { HttpClient, HttpRequestOptions, HttpResponse, HttpClientErrorReason, UserUrlClient } from '../../core/ports/http-client.js';
export { HttpClientError } from '../../core/ports/http-client.js';
import type { HttpClient } from '../../core/ports/http-client.js';

/** Settings of one channel, handed to a provider factory. */
export interface ProviderSettings {
  /** Channel name, for logs and errors. */
  channel: string;
  /** The upstream's base URL, without a trailing slash (each provider documents its default). */
  baseURL: string;
  /** The upstream credential. Never logged, never put in an error message. */
  apiKey: string;
  http: HttpClient;
  clock?: Clock;
  /** Delay between polls of asynchronous upstreams; tests make it small. */
  pollIntervalMs?: number;
  /** Give up on an upstream job after this long. */
  timeoutMs?: number;
  /** Provider-specific settings from the channel config (e.g. Azure `api_version`, `deployment`). */
  options?: Record<string, unknown>;
}
