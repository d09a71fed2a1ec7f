// Round-robin over a channel's upstream keys, skipping keys an upstream rejected (401/403) or whose
// account ran out of credit, until the channel is changed or re-enabled. Works with positions only: the keys themselves never pass through here.

export type KeyRejection = 'credentials' | 'funds';

export class KeyRotation {
  readonly #count: number;
  readonly #rejected = new Map<number, KeyRejection>();
  #next = 0;

  constructor(count: number) {
    this.#count = count;
  }

  /** Position of the key for the next call, or undefined when every key has been rejected. */
  next(): number | undefined {
    // A channel without keys (offline, keyless upstreams) has one implicit "no key" slot.
    const slots = Math.max(1, this.#count);
    for (let step = 0; step < slots; step += 1) {
      const position = (this.#next + step) % slots;
      if (!this.#rejected.has(position)) {
        this.#next = (position + 1) % slots;
        return position;
      }
    }
    return undefined;
  }

  /** Marks a key rejected (bad credentials, or an account out of credit); answers whether another key is still usable. */
  reject(position: number, reason: KeyRejection = 'credentials'): boolean {
    this.#rejected.set(position, reason);
    return this.usable() > 0;
  }

  usable(): number {
    return Math.max(1, this.#count) - this.#rejected.size;
  }

  /** Keys rejected for their credentials. */
  rejected(): number[] {
    return this.#positions('credentials');
  }

  /** Keys whose upstream account is out of credit. */
  outOfFunds(): number[] {
    return this.#positions('funds');
  }

  #positions(reason: KeyRejection): number[] {
    return [...this.#rejected]
      .filter(([, why]) => why === reason)
      .map(([position]) => position)
      .sort((left, right) => left - right);
  }
}
