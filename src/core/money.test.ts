// Integer credits: exact decimal parsing, formatting and rounding up.

import { describe, expect, it } from 'vitest';
import { assertCredits, ceilDivide, creditsToUsd, parseDecimal, usdToCredits } from './money.js';

describe('money', () => {
  it('parses dollar strings exactly into credits (1 credit = $0.000001)', () => {
    expect(usdToCredits('0.016', 'x')).toBe(16_000);
    expect(usdToCredits('40.00', 'x')).toBe(40_000_000);
    expect(usdToCredits('0.000001', 'x')).toBe(1);
    expect(usdToCredits('1234', 'x')).toBe(1_234_000_000);
    // The float 0.1 + 0.2 is read at the credit's resolution, not as 0.30000000000000004.
    expect(usdToCredits(0.1 + 0.2, 'x')).toBe(300_000);
  });

  it('refuses amounts finer than a credit, negative or malformed', () => {
    expect(() => usdToCredits('0.0000001', 'price')).toThrow(/price: 0.0000001 is finer than one credit/);
    expect(() => usdToCredits('-1', 'price')).toThrow(RangeError);
    expect(() => usdToCredits('1e-3', 'price')).toThrow(RangeError);
    expect(() => usdToCredits('', 'price')).toThrow(RangeError);
    expect(() => assertCredits(1.5, 'amount')).toThrow(/whole number of credits/);
    expect(() => assertCredits(-1, 'amount')).toThrow(RangeError);
    expect(assertCredits(7, 'amount')).toBe(7);
  });

  it('formats credits as dollars without trailing zeros', () => {
    expect(creditsToUsd(16_000)).toBe('0.016');
    expect(creditsToUsd(1)).toBe('0.000001');
    expect(creditsToUsd(2_500_000)).toBe('2.5');
    expect(creditsToUsd(0)).toBe('0');
  });

  it('rounds fractions up and keeps exact ratios', () => {
    expect(ceilDivide(10n, 3n)).toBe(4n);
    expect(ceilDivide(9n, 3n)).toBe(3n);
    expect(ceilDivide(0n, 3n)).toBe(0n);
    expect(parseDecimal('0.85', 'x')).toEqual({ numerator: 85n, denominator: 100n });
  });
});
