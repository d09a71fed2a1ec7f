// The one error type of the gateway: a closed set of codes, each mapped to an HTTP status and an
// OpenAI error `type` in one table, with `retryable` known per error and the cause kept.

export const errorTable = {
  invalid_value: { status: 400, type: 'invalid_request_error', retryable: false },
  /** The HTTP message itself is malformed (framing: Content-Length, Transfer-Encoding, request line). */
  invalid_request: { status: 400, type: 'invalid_request_error', retryable: false },
  missing_required_parameter: { status: 400, type: 'invalid_request_error', retryable: false },
  unknown_parameter: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_json: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_image: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_image_format: { status: 400, type: 'invalid_request_error', retryable: false },
  image_too_large: { status: 400, type: 'invalid_request_error', retryable: false },
  invalid_image_url: { status: 400, type: 'invalid_request_error', retryable: false },
  failed_to_download_image: { status: 400, type: 'invalid_request_error', retryable: false },
  unsupported_endpoint: { status: 400, type: 'invalid_request_error', retryable: false },
  content_policy_violation: { status: 400, type: 'invalid_request_error', retryable: false },
  moderation_blocked: { status: 400, type: 'image_generation_user_error', retryable: false },
  invalid_api_key: { status: 401, type: 'invalid_request_error', retryable: false },
  invalid_signature: { status: 403, type: 'invalid_request_error', retryable: false },
  permission_denied: { status: 403, type: 'invalid_request_error', retryable: false },
  model_not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  /** A catalog model no channel of this gateway routes (once channels are configured, the offline engine serves only what it is named for). */
  model_not_available: { status: 404, type: 'invalid_request_error', retryable: false },
  not_found: { status: 404, type: 'invalid_request_error', retryable: false },
  conflict: { status: 409, type: 'invalid_request_error', retryable: false },
  request_timeout: { status: 408, type: 'invalid_request_error', retryable: true },
  request_too_large: { status: 413, type: 'invalid_request_error', retryable: false },
  unsupported_media_type: { status: 415, type: 'invalid_request_error', retryable: false },
  range_not_satisfiable: { status: 416, type: 'invalid_request_error', retryable: false },
  request_header_fields_too_large: { status: 431, type: 'invalid_request_error', retryable: false },
  rate_limit_exceeded: { status: 429, type: 'requests', retryable: true },
  insufficient_quota: { status: 429, type: 'insufficient_quota', retryable: false },
  upstream_rate_limited: { status: 429, type: 'server_error', retryable: true },
  /** Every channel for the model is at its concurrency limit with a full queue: the gateway's own back-pressure. */
  upstream_busy: { status: 429, type: 'server_error', retryable: true },
  server_error: { status: 500, type: 'server_error', retryable: false },
  upstream_error: { status: 502, type: 'server_error', retryable: true },
  upstream_auth_failed: { status: 502, type: 'server_error', retryable: false },
  /**
   * The channel's upstream account has no credit left (HTTP 402, fal's 403 "Exhausted balance",
   * OpenAI's 429 `insufficient_quota`): another channel may serve the request, this one will not
   * until the operator tops it up, so it is neither retried here nor a credentials problem.
   */
  upstream_out_of_funds: { status: 502, type: 'server_error', retryable: true },
  upstream_invalid_response: { status: 502, type: 'server_error', retryable: true },
  service_unavailable: { status: 503, type: 'server_error', retryable: true },
  /**
   * A synchronous request passed the gateway's time limit and goes on as an asynchronous task: the
   * error carries `task_id`. Not retryable, since the work is already running and paid for once.
   */
  sync_timeout: { status: 504, type: 'server_error', retryable: false },
  upstream_timeout: { status: 504, type: 'server_error', retryable: true },
} as const satisfies Record<string, { status: number; type: string; retryable: boolean }>;

export type ErrorCode = keyof typeof errorTable;

export interface GatewayErrorOptions {
  param?: string | null;
  /** Overrides the table's default, e.g. an upstream 400 that we know is not worth retrying. */
  retryable?: boolean;
  /** Seconds the client (or the router) should wait before trying again. */
  retryAfterSeconds?: number;
  cause?: unknown;
  /** Extra fields rendered inside the OpenAI error object (e.g. `moderation_details`). */
  details?: Record<string, unknown>;
  /** Overrides the table's status for the rare code used with two statuses. */
  status?: number;
  /** Response headers that belong with this error (e.g. the x-ratelimit-* of a 429). */
  headers?: Record<string, string>;
}

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  readonly param: string | null;
  readonly retryable: boolean;
  readonly retryAfterSeconds: number | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    const entry = errorTable[code];
    this.code = code;
    this.status = options.status ?? entry.status;
    this.type = entry.type;
    this.param = options.param ?? null;
    this.retryable = options.retryable ?? entry.retryable;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.details = options.details;
    this.headers = options.headers;
  }

  /** The OpenAI wire shape: `{"error":{"message","type","param","code"}}`. */
  toBody(): OpenAIErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code, ...this.details } };
  }
}

export interface OpenAIErrorObject {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
  [extra: string]: unknown;
}

export interface OpenAIErrorBody {
  error: OpenAIErrorObject;
}

export const isGatewayError = (value: unknown): value is GatewayError => value instanceof GatewayError;

/** Formats a list of allowed values the way OpenAI does: 'a', 'b', and 'c'. */
export function listAllowed(values: readonly (string | number)[]): string {
  const quoted = values.map((v) => `'${v}'`);
  if (quoted.length <= 1) return quoted.join('');
  return `${quoted.slice(0, -1).join(', ')}, and ${quoted.at(-1)}`;
}

export function invalidValue(param: string, value: unknown, allowed: readonly (string | number)[] | string): GatewayError {
  const supported = typeof allowed === 'string' ? allowed : `Supported values are: ${listAllowed(allowed)}.`;
  return new GatewayError('invalid_value', `Invalid value for '${param}': ${JSON.stringify(value)}. ${supported}`, { param });
}
