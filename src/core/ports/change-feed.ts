// Tells every gateway process that shared settings changed, so each drops or rebuilds what it keeps in
// memory: the key cache (a key revoked, limits changed) and the channel registry (a channel created,
// disabled, edited). The store stays the source of truth; a notice only says "read it again".

export type ChangeTopic = 'keys' | 'channels';

export interface ChangeFeed {
  /** Announces a change already written to the store. */
  publish(topic: ChangeTopic): Promise<void>;
  /** Calls `listener` for changes seen from now on (this process's own included); returns the unsubscribe. */
  subscribe(listener: (topic: ChangeTopic) => void): () => void;
  /** Resolves once the feed is listening, so a change published after it is never missed. */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** The counters under the polling feed: one per topic, in the shared database. */
export interface ChangeVersionStore {
  /** Adds one to the topic's counter (creating it at 1). */
  raise(topic: ChangeTopic): Promise<void>;
  /** Every topic's counter now. */
  read(): Promise<Map<string, number>>;
}
