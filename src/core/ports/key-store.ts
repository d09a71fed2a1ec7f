// API keys, stored only as hashes.

export interface ApiKeyRecord {
  id: string;
  name: string;
  /** sha256 hex of the secret; the secret itself is never stored. */
  hash: string;
  /** First characters of the secret, for people to recognise a key in lists (`sk-ab12…`). */
  prefix: string;
  enabled: boolean;
  createdAt: number;
  expiresAt: number | null;
  /** `env` keys come from IMAGEGATE_API_KEYS and are unlimited development keys. */
  source: 'env' | 'bootstrap' | 'admin';
  /**
   * Credits left (1 credit = $0.000001), or null for an unlimited key. A snapshot as of the read:
   * the Billing port changes it atomically in the store, never through this record.
   */
  balance: number | null;
  /** Catalog model ids this key may use; null = every model. */
  allowedModels: string[] | null;
  /** Client addresses or CIDR ranges the key is accepted from; null = anywhere. */
  ipAllowlist: string[] | null;
  rateLimits: KeyRateLimits;
  /** Which price group's prices this key pays (`default` unless an operator says otherwise). */
  priceGroup: string;
  /** Set when the key was revoked: it is disabled for good. */
  revokedAt: number | null;
}

/** Per-key limits; null = no limit of that kind. */
export interface KeyRateLimits {
  requestsPerMinute: number | null;
  imagesPerMinute: number | null;
  /** Image requests in flight at once. */
  concurrentRequests: number | null;
}

/** The fields an operator may change after creation (balance is changed only through billing). */
export type ApiKeyPatch = Partial<Pick<ApiKeyRecord, 'name' | 'enabled' | 'expiresAt' | 'allowedModels' | 'ipAllowlist' | 'rateLimits' | 'priceGroup'>>;

export interface KeyStore {
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Inserts, or does nothing when a key with the same hash exists. */
  insert(record: ApiKeyRecord): Promise<void>;
  count(): Promise<number>;
  list(): Promise<ApiKeyRecord[]>;
  setEnabled(id: string, enabled: boolean): Promise<boolean>;
  findById(id: string): Promise<ApiKeyRecord | undefined>;
  /** Applies the given fields; answers the updated record, or undefined for an unknown id. */
  update(id: string, patch: ApiKeyPatch): Promise<ApiKeyRecord | undefined>;
  /** Disables the key for good; false for an unknown id. A revoked key stays revoked. */
  revoke(id: string, at: number): Promise<boolean>;
}
