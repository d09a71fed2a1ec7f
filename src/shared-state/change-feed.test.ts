// Change feeds between processes: two connections to one SQLite file see each other's changes by
// polling the counters; over Redis a notice arrives without waiting for a poll (the database poll
// here is set far beyond the test's deadline, so only pub/sub can deliver in time).

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeFeed, ChangeTopic } from '../core/ports/change-feed.js';
import { SqlChangeVersionStore } from '../storage/sql/change-version-store.js';
import { createPollingChangeFeed } from './polling-change-feed.js';
import { openSqliteDatabase, type SqliteDatabase } from '../storage/sqlite/database.js';
import { migrate } from '../storage/sqlite/migrate.js';
import { deleteRedisPrefix, testRedisUrl, uniqueRedisPrefix } from '../testing/redis.js';
import { connectRedis, redactRedisUrl } from './redis-client.js';
import { createRedisChangeFeed } from './redis-change-feed.js';

let folder: string;
let databases: SqliteDatabase[] = [];
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'imagegate-feed-'));
  databases = [openSqliteDatabase({ file: join(folder, 'shared.sqlite') }), openSqliteDatabase({ file: join(folder, 'shared.sqlite') })];
  await migrate(databases[0]!.db);
});
afterAll(async () => {
  for (const database of databases) await database.close();
  await rm(folder, { recursive: true, force: true });
});

/** Resolves with the first topic the feed reports, or rejects after the deadline. */
function nextTopic(feed: ChangeFeed, deadlineMs: number): Promise<ChangeTopic> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`no change seen within ${deadlineMs} ms`));
    }, deadlineMs);
    const unsubscribe = feed.subscribe((topic) => {
      clearTimeout(timer);
      unsubscribe();
      resolve(topic);
    });
  });
}

describe('database change feed', () => {
  it('tells another process on the same database what changed, within a poll or two', async () => {
    const [one, two] = databases.map((database) => createPollingChangeFeed({ versions: new SqlChangeVersionStore(database.db), pollMs: 100 }));
    await Promise.all([one!.ready(), two!.ready()]);
    const seen = nextTopic(two!, 5_000);
    await one!.publish('channels');
    expect(await seen).toBe('channels');
    const seenKeys = nextTopic(two!, 5_000);
    await one!.publish('keys');
    expect(await seenKeys).toBe('keys');
    await Promise.all([one!.close(), two!.close()]);
  });
});

describe('redis change feed', () => {
  it('delivers a notice to another replica without waiting for the database poll', async () => {
    const prefix = uniqueRedisPrefix('feed');
    const connections = await Promise.all([connectRedis(testRedisUrl, prefix), connectRedis(testRedisUrl, prefix)]);
    const feeds = connections.map((redis, index) =>
      createRedisChangeFeed({ redis, database: createPollingChangeFeed({ versions: new SqlChangeVersionStore(databases[index]!.db), pollMs: 600_000 }) }),
    );
    await Promise.all(feeds.map((feed) => feed.ready()));
    const seen = nextTopic(feeds[1]!, 1_000);
    await feeds[0]!.publish('keys');
    expect(await seen).toBe('keys');
    // Another deployment (another prefix) on the same Redis hears nothing.
    const stranger = await connectRedis(testRedisUrl, uniqueRedisPrefix('stranger'));
    const strangerFeed = createRedisChangeFeed({ redis: stranger, database: createPollingChangeFeed({ versions: new SqlChangeVersionStore(databases[1]!.db), pollMs: 600_000 }) });
    await strangerFeed.ready();
    const heard: ChangeTopic[] = [];
    strangerFeed.subscribe((topic) => heard.push(topic));
    const again = nextTopic(feeds[1]!, 1_000);
    await feeds[0]!.publish('channels');
    expect(await again).toBe('channels');
    expect(heard).toEqual([]);
    await strangerFeed.close();
    await stranger.close();
    for (const feed of feeds) await feed.close();
    for (const connection of connections) await connection.close();
    await deleteRedisPrefix(prefix);
  });

  it('refuses to start on an unreachable Redis with a message that names the address but not the password', async () => {
    const error = await connectRedis('redis://admin:hunter2-secret@127.0.0.1:1/0', 'x:').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/^redis\.url: cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0/);
    expect(message).not.toContain('hunter2');
    expect(redactRedisUrl('rediss://u:p@cache.example:6380')).toBe('rediss://cache.example:6380');
  });
});
