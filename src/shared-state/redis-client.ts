// The one Redis connection (plus a subscriber) a gateway process opens when `redis.url` is set.
// Connecting is checked at start-up, so a wrong URL or a Redis that is down stops the start with a
// message naming the address (never the password), rather than failing the first request.

import { Redis } from 'ioredis';
import { ConfigError } from '../config/load.js';

export interface RedisConnection {
  /** Commands (rate limits, slots, publishing). */
  client: Redis;
  /** A second connection for SUBSCRIBE, which blocks a connection for anything else. */
  subscriber: Redis;
  /** Every key and pub/sub channel name starts with this. */
  prefix: string;
  close(): Promise<void>;
}

/** `redis://user:secret@host:6379/0` → `redis://host:6379/0`: safe to log and to show. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'redis://(unparsable URL)';
  }
}

const connectTimeoutMs = 5_000;

function open(url: string): Redis {
  return new Redis(url, {
    lazyConnect: true,
    connectTimeout: connectTimeoutMs,
    // A command fails after a few reconnection attempts instead of waiting forever in the offline
    // queue: callers (rate limits, slots) then fall back to this process's own limits.
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 200, 2_000),
  });
}

export async function connectRedis(url: string, prefix: string): Promise<RedisConnection> {
  const client = open(url);
  const subscriber = open(url);
  // Errors after start are reported by the callers' fallbacks and /readyz; without a listener ioredis would print them.
  client.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  try {
    await Promise.all([client.connect(), subscriber.connect()]);
    await client.ping();
  } catch (error) {
    client.disconnect();
    subscriber.disconnect();
    const reason = error instanceof Error ? error.message.replace(url, redactRedisUrl(url)) : String(error);
    throw new ConfigError(`redis.url: cannot reach Redis at ${redactRedisUrl(url)} (${reason}); start it, fix the URL, or remove redis.url to run without it`);
  }
  return {
    client,
    subscriber,
    prefix,
    async close() {
      await Promise.allSettled([client.quit(), subscriber.quit()]);
    },
  };
}
