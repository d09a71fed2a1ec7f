// Operators' price changes, layered over catalog/prices.yaml: a change is validated, written to the
// price store and applied to the in-memory PriceBook in the same call, so the next request pays it.

import type { Clock } from '../core/ports/clock.js';
import type { PriceStore } from '../core/ports/price-store.js';
import { compileGroup, compilePrice, PriceBook, type PriceFile, type PriceGroupSpec, type PriceSpec } from './price-book.js';

export class PriceOverrides {
  readonly #store: PriceStore;
  readonly #clock: Clock;
  readonly #book: PriceBook;

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
    return new PriceOverrides(store, clock, book);
  }

  get book(): PriceBook {
    return this.#book;
  }

  /** Validates, stores and applies one model's price; throws RangeError naming a bad field. */
  async setModelPrice(model: string, spec: unknown): Promise<PriceSpec> {
    const checked = compilePrice(spec, 'price');
    await this.#store.putModelPrice(model, checked, this.#clock.now());
    this.#book.setModelPrice(model, checked);
    return checked;
  }

  /** Drops an operator's price: the model goes back to the file's price (or to none). */
  async resetModelPrice(model: string): Promise<boolean> {
    const removed = await this.#store.deleteModelPrice(model);
    this.#book.setModelPrice(model, undefined);
    return removed;
  }

  async setGroup(name: string, spec: unknown): Promise<PriceGroupSpec> {
    const checked = compileGroup(spec, 'price group');
    await this.#store.putGroup(name, checked, this.#clock.now());
    this.#book.setGroup(name, checked);
    return checked;
  }

  async resetGroup(name: string): Promise<boolean> {
    const removed = await this.#store.deleteGroup(name);
    this.#book.setGroup(name, undefined);
    return removed;
  }
}
