// Key and channel stores that announce each write on the change feed, so every replica drops its key
// cache or rebuilds its channels. Whoever writes (admin API, start-up seeding) goes through these,
// and the announcement follows the committed write.

import type { ChangeFeed, ChangeTopic } from '../core/ports/change-feed.js';
import type { ChannelStore } from '../core/ports/channel-store.js';
import type { KeyStore } from '../core/ports/key-store.js';

async function announced<T>(feed: ChangeFeed, topic: ChangeTopic, write: Promise<T>, onError: (error: unknown) => void): Promise<T> {
  const result = await write;
  // The change is stored: a failed announcement delays it on other replicas, it does not undo it.
  await feed.publish(topic).catch(onError);
  return result;
}

export function announcingKeyStore(store: KeyStore, feed: ChangeFeed, onError: (error: unknown) => void): KeyStore {
  return {
    findByHash: (hash) => store.findByHash(hash),
    findById: (id) => store.findById(id),
    count: () => store.count(),
    list: () => store.list(),
    insert: (record) => announced(feed, 'keys', store.insert(record), onError),
    setEnabled: (id, enabled) => announced(feed, 'keys', store.setEnabled(id, enabled), onError),
    update: (id, patch) => announced(feed, 'keys', store.update(id, patch), onError),
    revoke: (id, at) => announced(feed, 'keys', store.revoke(id, at), onError),
  };
}

export function announcingChannelStore(store: ChannelStore, feed: ChangeFeed, onError: (error: unknown) => void): ChannelStore {
  return {
    list: () => store.list(),
    get: (name) => store.get(name),
    insert: (record) => announced(feed, 'channels', store.insert(record), onError),
    replace: (record) => announced(feed, 'channels', store.replace(record), onError),
    setEnabled: (name, enabled, reason, updatedAt) => announced(feed, 'channels', store.setEnabled(name, enabled, reason, updatedAt), onError),
    remove: (name) => announced(feed, 'channels', store.remove(name), onError),
  };
}
