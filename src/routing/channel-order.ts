// The order in which a model's channels are tried: higher priority first, then a weighted random
// draw among channels of equal priority, so traffic splits by weight and failover falls to the rest.

export interface Weighted {
  priority: number;
  weight: number;
}

/** A source of uniform numbers in [0, 1); tests pass a seeded one. */
export type RandomSource = () => number;

export function orderCandidates<T extends Weighted>(candidates: readonly T[], random: RandomSource): T[] {
  // Most models have one channel: nothing to order, and no tiers, copies and draws on every request.
  if (candidates.length === 1) return [candidates[0] as T];
  const tiers = new Map<number, T[]>();
  for (const candidate of candidates) {
    const tier = tiers.get(candidate.priority) ?? [];
    tier.push(candidate);
    tiers.set(candidate.priority, tier);
  }
  return [...tiers.keys()].sort((left, right) => right - left).flatMap((priority) => weightedShuffle(tiers.get(priority) ?? [], random));
}

/**
 * Draws without replacement, each pick in proportion to weight. Weight-0 channels are never drawn
 * ahead of a weighted one: they only take traffic when the others fail (or are all weight 0).
 */
function weightedShuffle<T extends Weighted>(tier: readonly T[], random: RandomSource): T[] {
  const remaining = [...tier];
  const ordered: T[] = [];
  while (remaining.length > 0) {
    const total = remaining.reduce((sum, candidate) => sum + Math.max(0, candidate.weight), 0);
    if (total <= 0) {
      ordered.push(...remaining);
      break;
    }
    let point = random() * total;
    let index = remaining.findIndex((candidate) => {
      point -= Math.max(0, candidate.weight);
      return point < 0;
    });
    // Rounding can leave the point at the very end: the last weighted candidate takes it.
    if (index < 0) index = remaining.findLastIndex((candidate) => candidate.weight > 0);
    ordered.push(...remaining.splice(index, 1));
  }
  return ordered;
}

/** A small seeded generator (mulberry32) for reproducible draws in tests and benchmarks. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4294967296;
  };
}
