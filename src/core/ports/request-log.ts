// One row per API request: who asked for what, what was delivered, how long it took, how it failed.

export interface RequestLogEntry {
  /** The row's own id, unique even when callers repeat a request id. */
  id: string;
  /** The request's id as answered in `x-request-id`: the caller's own when it sent one, so not unique. */
  requestId: string;
  keyId: string | null;
  endpoint: string;
  model: string | null;
  provider: string | null;
  channel: string | null;
  status: number;
  imagesRequested: number;
  imagesDelivered: number;
  size: string | null;
  latencyMs: number;
  errorCode: string | null;
  createdAt: number;
  /** The client's address (behind server.trust_proxy's proxies); null when unknown. */
  clientIp?: string | null;
  /** What the console shows of a request; absent for requests that carried none (health checks, rejects before parsing). */
  details?: RequestDetails | null;
}

/** The request's own words and what came of them, kept for the console's request log and gallery. */
export interface RequestDetails {
  /** The first 1,000 characters. */
  prompt?: string;
  /** size, quality, n, response_format, stream, async, … as the client sent them (no images, no secrets). */
  parameters?: Record<string, unknown>;
  warnings?: string[];
  /** Blob keys of the images stored for this request (url responses); base64 answers store none. */
  imageKeys?: string[];
  /** The task an asynchronous request (or one handed over) became. */
  taskId?: string;
  /** Time spent in the image service: upstream calls, downloads and storing. */
  generationMs?: number;
}

export interface RequestLogQuery {
  requestId?: string;
  keyId?: string;
  model?: string;
  channel?: string;
  /** succeeded: status below 400; failed: 400 and above. */
  outcome?: 'succeeded' | 'failed';
  from?: number;
  to?: number;
  limit?: number;
}

export interface RequestLog {
  /** Queues the entry; writes happen off the request path, in batches. */
  record(entry: RequestLogEntry): void;
  /** Writes everything queued so far. */
  flush(): Promise<void>;
  query(filter: RequestLogQuery): Promise<RequestLogEntry[]>;
  /** Deletes entries created before `cutoffMs` (retention); answers how many. */
  deleteOlderThan(cutoffMs: number): Promise<number>;
  /**
   * One entry by its row id, or else the latest one with that request id — of `keyId`'s requests when
   * given (written ones only: flush first to include the buffer).
   */
  get(id: string, keyId?: string): Promise<RequestLogEntry | undefined>;
}
