// Console sign-in sessions: kept in the shared store so every process behind a load balancer knows them.

export interface ConsoleSession {
  /** SHA-256 of the cookie's secret; the secret itself is never stored. */
  idHash: string;
  role: 'operator' | 'key';
  /** The key a key holder signed in with; null for operators. */
  keyId: string | null;
  csrfToken: string;
  ip: string | null;
  createdAt: number;
  expiresAt: number;
}

export interface SessionStore {
  create(session: ConsoleSession): Promise<void>;
  /** The session if it exists and has not expired at `now`. */
  get(idHash: string, now: number): Promise<ConsoleSession | undefined>;
  delete(idHash: string): Promise<void>;
  /** Ends every session of a key (revoked, disabled); answers how many. */
  deleteForKey(keyId: string): Promise<number>;
  deleteExpired(now: number): Promise<number>;
}
