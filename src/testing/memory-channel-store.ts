// An in-memory ChannelStore for unit tests of the router; passes the same conformance suite as SQLite.

import type { ChannelRecord, ChannelStore } from '../core/ports/channel-store.js';

export class MemoryChannelStore implements ChannelStore {
  readonly #records = new Map<string, ChannelRecord>();

  async list(): Promise<ChannelRecord[]> {
    return [...this.#records.values()].sort((left, right) => (left.name < right.name ? -1 : 1)).map(copy);
  }

  async get(name: string): Promise<ChannelRecord | undefined> {
    const record = this.#records.get(name);
    return record === undefined ? undefined : copy(record);
  }

  async insert(record: ChannelRecord): Promise<boolean> {
    if (this.#records.has(record.name)) return false;
    this.#records.set(record.name, copy(record));
    return true;
  }

  async replace(record: ChannelRecord): Promise<boolean> {
    if (!this.#records.has(record.name)) return false;
    this.#records.set(record.name, copy(record));
    return true;
  }

  async setEnabled(name: string, enabled: boolean, reason: string | null, updatedAt: number): Promise<boolean> {
    const record = this.#records.get(name);
    if (record === undefined) return false;
    this.#records.set(name, { ...record, enabled, disabledReason: enabled ? null : reason, updatedAt });
    return true;
  }

  async remove(name: string): Promise<boolean> {
    return this.#records.delete(name);
  }
}

function copy(record: ChannelRecord): ChannelRecord {
  return structuredClone({ ...record, disabledReason: record.enabled ? null : record.disabledReason });
}
