// The ChangeFeed every deployment has: a counter per topic in the shared database, raised on each
// change and polled by every process. Several processes on one SQLite file, or replicas on one
// Postgres database, see each other's changes within one poll interval; Redis makes it immediate
// (redis-change-feed.ts) and keeps this as its safety net.

import type { ChangeFeed, ChangeTopic, ChangeVersionStore } from '../core/ports/change-feed.js';

export interface PollingChangeFeedOptions {
  versions: ChangeVersionStore;
  /** Between two reads of the counters. */
  pollMs: number;
  onError?: (error: unknown) => void;
}

export function createPollingChangeFeed(options: PollingChangeFeedOptions): ChangeFeed {
  const { versions } = options;
  const listeners = new Set<(topic: ChangeTopic) => void>();
  let seen: Map<string, number> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();

  const poll = async () => {
    try {
      const current = await versions.read();
      const before = seen;
      seen = current;
      if (before === undefined) return;
      for (const [topic, version] of current) {
        if (before.get(topic) !== version) for (const listener of listeners) listener(topic as ChangeTopic);
      }
    } catch (error) {
      options.onError?.(error);
    }
  };

  const started = (async () => {
    seen = await versions.read();
    timer = setInterval(() => {
      polling = poll();
    }, options.pollMs);
    timer.unref();
  })();

  return {
    publish: (topic) => versions.raise(topic),
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    ready: () => started,
    async close() {
      await started.catch(() => undefined);
      if (timer !== undefined) clearInterval(timer);
      await polling;
      listeners.clear();
    },
  };
}
