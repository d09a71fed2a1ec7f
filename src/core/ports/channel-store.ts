// Channels (upstream accounts the router sends requests to), stored so operators can manage them at run time.

/** One channel. Upstream API keys are here in clear (the gateway presents them); a store keeps them encrypted at rest. */
export interface ChannelRecord {
  name: string;
  /** Provider kind: one of `providerNames` (config/provider-names.ts). */
  provider: string;
  baseUrl: string | null;
  /** Upstream keys used in rotation; empty for providers that need none. */
  apiKeys: string[];
  /** Catalog model names (or aliases) this channel serves. */
  models: string[];
  /** Catalog name → upstream model name. */
  modelMap: Record<string, string>;
  priority: number;
  weight: number;
  enabled: boolean;
  /** Why the channel was disabled (`admin`, `upstream_auth_failed` …), null while enabled. */
  disabledReason: string | null;
  /** Upstream calls in flight at once; null: unlimited. */
  maxConcurrency: number | null;
  /** Requests waiting for a slot before the channel is skipped; null: the default. */
  maxQueue: number | null;
  timeoutMs: number | null;
  pollIntervalMs: number | null;
  /** Provider-specific settings (JSON-serialisable). */
  options: Record<string, unknown>;
  /** `config`: seeded from the YAML file; `admin`: created at run time. */
  source: 'config' | 'admin';
  /** Digest of the YAML definition last seeded, so an unchanged file keeps run-time edits. */
  configHash: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface ChannelStore {
  /** Every channel, ordered by name. */
  list(): Promise<ChannelRecord[]>;
  get(name: string): Promise<ChannelRecord | undefined>;
  /** Inserts; false (and nothing written) when a channel of that name exists. */
  insert(record: ChannelRecord): Promise<boolean>;
  /** Replaces every field of the channel named `record.name`; false when there is none. */
  replace(record: ChannelRecord): Promise<boolean>;
  /** Sets the enabled flag and its reason in one write; false when there is no such channel. */
  setEnabled(name: string, enabled: boolean, reason: string | null, updatedAt: number): Promise<boolean>;
  /** Deletes; false when there was no such channel. */
  remove(name: string): Promise<boolean>;
  /** Encrypts upstream keys stored in clear (by an older version); answers how many channels it sealed. */
  sealStoredKeys?(): Promise<number>;
}
