// Channel order: priority tiers first, weighted draws inside a tier, reproducible with a seed.

import { describe, expect, it } from 'vitest';
import { orderCandidates, seededRandom } from './channel-order.js';

const channel = (name: string, priority: number, weight: number) => ({ name, priority, weight });

describe('orderCandidates', () => {
  it('puts every higher-priority channel before any lower one', () => {
    const random = seededRandom(7);
    const candidates = [channel('low', 0, 100), channel('high-a', 10, 1), channel('mid', 5, 50), channel('high-b', 10, 1)];
    for (let round = 0; round < 50; round += 1) {
      const names = orderCandidates(candidates, random).map((candidate) => candidate.name);
      expect(names.slice(0, 2).sort()).toEqual(['high-a', 'high-b']);
      expect(names.slice(2)).toEqual(['mid', 'low']);
    }
  });

  it('draws the first channel of a tier in proportion to weight', () => {
    const random = seededRandom(42);
    const candidates = [channel('a', 0, 1), channel('b', 0, 3), channel('c', 0, 6)];
    const firsts: Record<string, number> = { a: 0, b: 0, c: 0 };
    for (let round = 0; round < 10_000; round += 1) {
      const first = orderCandidates(candidates, random)[0]?.name ?? '';
      firsts[first] = (firsts[first] ?? 0) + 1;
    }
    expect(firsts['a']).toBeGreaterThan(850);
    expect(firsts['a']).toBeLessThan(1150);
    expect(firsts['b']).toBeGreaterThan(2800);
    expect(firsts['b']).toBeLessThan(3200);
    expect(firsts['c']).toBeGreaterThan(5800);
    expect(firsts['c']).toBeLessThan(6200);
  });

  it('keeps weight-0 channels behind every weighted one, for failover only', () => {
    const random = seededRandom(3);
    for (let round = 0; round < 100; round += 1) {
      const names = orderCandidates([channel('spare', 0, 0), channel('main', 0, 1), channel('other', 0, 2)], random).map((candidate) => candidate.name);
      expect(names[2]).toBe('spare');
    }
    expect(orderCandidates([channel('x', 0, 0), channel('y', 0, 0)], random).map((candidate) => candidate.name)).toEqual(['x', 'y']);
  });

  it('is reproducible: the same seed gives the same order', () => {
    const candidates = Array.from({ length: 6 }, (_, index) => channel(`c${index}`, index % 2, index + 1));
    const draw = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 20 }, () => orderCandidates(candidates, random).map((candidate) => candidate.name).join(','));
    };
    expect(draw(99)).toEqual(draw(99));
    expect(draw(99)).not.toEqual(draw(100));
  });
});
