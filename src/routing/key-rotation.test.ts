// Round-robin over a channel's keys, skipping the ones an upstream rejected.

import { describe, expect, it } from 'vitest';
import { KeyRotation } from './key-rotation.js';

describe('KeyRotation', () => {
  it('hands out keys in turn', () => {
    const rotation = new KeyRotation(3);
    expect(Array.from({ length: 7 }, () => rotation.next())).toEqual([0, 1, 2, 0, 1, 2, 0]);
  });

  it('skips a rejected key and says whether another is left', () => {
    const rotation = new KeyRotation(3);
    expect(rotation.reject(1)).toBe(true);
    expect(Array.from({ length: 4 }, () => rotation.next())).toEqual([0, 2, 0, 2]);
    expect(rotation.reject(0)).toBe(true);
    expect(rotation.reject(2)).toBe(false);
    expect(rotation.next()).toBeUndefined();
    expect(rotation.rejected()).toEqual([0, 1, 2]);
  });

  it('a channel without keys has one slot, which a rejection uses up', () => {
    const rotation = new KeyRotation(0);
    expect([rotation.next(), rotation.next()]).toEqual([0, 0]);
    expect(rotation.reject(0)).toBe(false);
    expect(rotation.next()).toBeUndefined();
  });
});
