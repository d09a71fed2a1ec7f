// Ids of the rows written on the request path: their form, uniqueness and order.

import { describe, expect, it } from 'vitest';
import { timeOrderedHex } from './ids.js';

describe('timeOrderedHex', () => {
  it('is 32 lowercase hex digits: the time in ms, then 80 random bits, unique across a pool refill', () => {
    const before = Date.now();
    // 2,000 ids draw 20,000 random bytes: the 4 KB pool is refilled several times on the way.
    const ids = Array.from({ length: 2000 }, () => timeOrderedHex());
    const after = Date.now();
    for (const id of ids) {
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      const time = parseInt(id.slice(0, 12), 16);
      expect(time).toBeGreaterThanOrEqual(before);
      expect(time).toBeLessThanOrEqual(after);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids.map((id) => id.slice(12))).size).toBe(ids.length);
    // In creation order by their time part (the index keys take them at their right edge).
    for (let index = 1; index < ids.length; index += 1) expect(ids[index]!.slice(0, 12) >= ids[index - 1]!.slice(0, 12)).toBe(true);
  });
});
