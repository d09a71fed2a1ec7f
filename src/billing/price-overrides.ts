// Operators' price changes, layered over catalog/prices.yaml: a change is validated, written to the
// price store and applied to the in-memory PriceBook in the same call, so the next request pays it.
// Other processes sharing the database pick the change up on their next refresh().

import type { Clock } from '../core/ports/clock.js';
import type { PriceStore } from '../core/ports/price-store.js';
import { compileGroup, compilePrice, PriceBook, type PriceFile, type PriceGroupSpec, type PriceSpec } from './price-book.js';

export class PriceOverrides {
  readonly #store: PriceStore;
  readonly #clock: Clock;
  readonly #book: PriceBook;
  /** What this process last applied from the store, as JSON, so a refresh changes only what changed. */
  readonly #applied = { models: new Map<string, string>(), groups: new Map<string, string>() };

  private constructor(store: PriceStore, clock: Clock, book: PriceBook) {
    this.#store = store;
    this.#clock = clock;
    this.#book = book;
  }

  /** Builds the price book from the file and the stored overrides. */
  static async open(store: PriceStore, file: PriceFile, clock: Clock): Promise<PriceOverrides> {
    const stored = await store.load();
    const book = new PriceBook(file, {
      models: Object.fromEntries(Object.entries(stored.models).map(([model, spec]) => [model, spec as PriceSpec])),
      groups: Object.fromEntries(Object.entries(stored.groups).map(([name, spec]) => [name, spec as PriceGroupSpec])),
    });
    const overrides = new PriceOverrides(store, clock, book);
    for (const [model, spec] of Object.entries(stored.models)) overrides.#applied.models.set(model, JSON.stringify(spec));
    for (const [name, spec] of Object.entries(stored.groups)) overrides.#applied.groups.set(name, JSON.stringify(spec));
    return overrides;
  }

  /**
   * Re-reads the stored overrides and applies what another process changed (set, changed or reset)
   * since this one last looked. With several replicas on one database this is how a price set
   * through one replica's admin API reaches the others; the gateway calls it every few seconds.
   */
  async refresh(): Promise<void> {
    const stored = await this.#store.load();
    const apply = (kind: 'models' | 'groups', next: Record<string, unknown>, set: (name: string, spec: unknown) => void) => {
      const applied = this.#applied[kind];
      for (const [name, spec] of Object.entries(next)) {
        const text = JSON.stringify(spec);
        if (applied.get(name) === text) continue;
        set(name, spec);
        applied.set(name, text);
      }
      for (const name of [...applied.keys()]) {
        if (name in next) continue;
        set(name, undefined);
        applied.delete(name);
      }
    };
    apply('models', stored.models, (model, spec) => this.#book.setModelPrice(model, spec as PriceSpec | undefined));
    apply('groups', stored.groups, (name, spec) => this.#book.setGroup(name, spec as PriceGroupSpec | undefined));
  }

  get book(): PriceBook {
    return this.#book;
  }

  /** Validates, stores and applies one model's price; throws RangeError naming a bad field. */
  async setModelPrice(model: string, spec: unknown): Promise<PriceSpec> {
    const checked = compilePrice(spec, 'price');
    await this.#store.putModelPrice(model, checked, this.#clock.now());
    this.#book.setModelPrice(model, checked);
    this.#applied.models.set(model, JSON.stringify(checked));
    return checked;
  }

  /** Drops an operator's price: the model goes back to the file's price (or to none). */
  async resetModelPrice(model: string): Promise<boolean> {
    const removed = await this.#store.deleteModelPrice(model);
    this.#book.setModelPrice(model, undefined);
    this.#applied.models.delete(model);
    return removed;
  }

  async setGroup(name: string, spec: unknown): Promise<PriceGroupSpec> {
    const checked = compileGroup(spec, 'price group');
    await this.#store.putGroup(name, checked, this.#clock.now());
    this.#book.setGroup(name, checked);
    this.#applied.groups.set(name, JSON.stringify(checked));
    return checked;
  }

  async resetGroup(name: string): Promise<boolean> {
    const removed = await this.#store.deleteGroup(name);
    this.#book.setGroup(name, undefined);
    this.#applied.groups.delete(name);
    return removed;
  }
}
