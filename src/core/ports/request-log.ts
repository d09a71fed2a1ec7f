// One row per API request: who asked for what, what was delivered, how long it took, how it failed.

export interface RequestLogEntry {
  id: string;
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
}

export interface RequestLogQuery {
  keyId?: string;
  model?: string;
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
}
