// Change notices over Redis pub/sub: a key revoked or a channel disabled through one replica's admin
// API reaches every other replica in milliseconds. Pub/sub forgets a message sent while a replica was
// disconnected, so the database counters (createDatabaseChangeFeed) stay underneath as the safety net,
// polled less often.

import type { ChangeFeed, ChangeTopic } from '../core/ports/change-feed.js';
import type { RedisConnection } from './redis-client.js';

const topics: readonly ChangeTopic[] = ['keys', 'channels'];

export function createRedisChangeFeed(options: { redis: RedisConnection; database: ChangeFeed; onError?: (error: unknown) => void }): ChangeFeed {
  const { redis, database } = options;
  const channel = `${redis.prefix}changes`;
  const listeners = new Set<(topic: ChangeTopic) => void>();
  const notify = (topic: ChangeTopic) => {
    for (const listener of listeners) listener(topic);
  };
  const onMessage = (from: string, message: string) => {
    if (from === channel && (topics as readonly string[]).includes(message)) notify(message as ChangeTopic);
  };
  redis.subscriber.on('message', onMessage);
  const unsubscribeDatabase = database.subscribe(notify);
  const subscribed = redis.subscriber.subscribe(channel).then(() => undefined);

  return {
    async publish(topic) {
      await database.publish(topic);
      // The counter is raised already: a lost notice only delays the change to the next poll.
      await redis.client.publish(channel, topic).catch((error: unknown) => options.onError?.(error));
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: async () => {
      await Promise.all([subscribed, database.ready()]);
    },
    async close() {
      redis.subscriber.off('message', onMessage);
      unsubscribeDatabase();
      await redis.subscriber.unsubscribe(channel).catch(() => undefined);
      await database.close();
      listeners.clear();
    },
  };
}
