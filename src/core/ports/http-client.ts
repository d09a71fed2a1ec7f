// The outbound HTTP port: every URL from a user or an upstream is fetched through one guarded client.

export interface HttpRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  headers?: Record<string, string>;
  /** A JSON body is serialised and labelled application/json. */
  json?: unknown;
  /** A raw body (string, bytes, or FormData for multipart). */
  body?: string | Buffer | FormData;
  signal?: AbortSignal;
  /** Response bodies above this many bytes fail with reason `too_large`. */
  maxBytes?: number;
  /** Whole-request time limit. */
  timeoutMs?: number;
  /**
   * Called with each body chunk as it arrives, after the status is known, for bodies read as they
   * stream (an upstream's Server-Sent Events). The whole body is still returned at the end.
   */
  onBodyChunk?: (chunk: Buffer, head: { status: number; headers: Record<string, string> }) => void;
}

export interface HttpResponse {
  status: number;
  /** Lower-cased header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /**
   * The body as it arrived, in pieces (views of the received chunks, no copy), for readers that can
   * take it so; `body` joins them, once, when first read. Absent where a client only has `body`.
   */
  chunks?: readonly Buffer[];
  /** Final URL after redirects. */
  url: string;
}

/**
 * The one outbound HTTP client (implemented in src/providers/shared/http-client.ts). Every address it connects to
 * is checked against the SSRF policy at connect time, bodies are size-limited, and pools keep
 * connections alive. It resolves for any HTTP status; it rejects with HttpClientError otherwise.
 */
export interface HttpClient {
  request(url: string, options?: HttpRequestOptions): Promise<HttpResponse>;
}

/**
 * The client for URLs a request body names (edit image URLs, callback_url): the same guard, and
 * `check`, which applies the very rule request() applies, without connecting, so a URL kept for
 * later (a webhook) is refused when it is submitted rather than when it is called.
 */
export interface UserUrlClient extends HttpClient {
  /** Resolves with the parsed URL, or rejects with HttpClientError (`invalid_url`, `blocked_address`). */
  check(url: string): Promise<URL>;
}

export type HttpClientErrorReason = 'blocked_address' | 'invalid_url' | 'too_large' | 'timeout' | 'aborted' | 'network' | 'too_many_redirects';

export class HttpClientError extends Error {
  readonly reason: HttpClientErrorReason;
  constructor(reason: HttpClientErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HttpClientError';
    this.reason = reason;
  }
}

