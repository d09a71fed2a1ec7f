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
}

export interface KeyStore {
  findByHash(hash: string): Promise<ApiKeyRecord | undefined>;
  /** Inserts, or does nothing when a key with the same hash exists. */
  insert(record: ApiKeyRecord): Promise<void>;
  count(): Promise<number>;
  list(): Promise<ApiKeyRecord[]>;
  setEnabled(id: string, enabled: boolean): Promise<boolean>;
}
