// Money as integers: 1 credit = $0.000001 (one micro-dollar). Decimal strings from price files
// and admin requests are parsed exactly, products are taken in BigInt, and a fraction of a credit
// is always rounded up once, at the end of a charge, so no price ever rounds to free.

/** Credits in one US dollar. */
export const creditsPerUsd = 1_000_000;

/** A non-negative exact fraction, e.g. a multiplier of 0.85 = 85/100. */
export interface Ratio {
  numerator: bigint;
  denominator: bigint;
}

/**
 * The largest amount of money the books hold anywhere — a balance, a top-up, a quota, a charge:
 * 10^15 credits ($1,000,000,000). Nine such amounts still add up below 2^53, so every sum the
 * ledger takes stays an exact integer; anything larger is refused with a 400.
 */
export const maxCredits = 1_000_000_000_000_000;

/** What a usage row's `detail` (its pricing arithmetic) becomes once its retention has passed. */
export const expiredUsageDetail = '{"expired":true}';

/** The largest unit price (per image, per megapixel, per 1M tokens): $1,000,000. */
export const maxPriceCredits = 1_000_000_000_000;

/** The largest price-group multiplier. */
export const maxMultiplier = 1000;

export const one: Ratio = { numerator: 1n, denominator: 1n };

const decimalPattern = /^(\d{1,12})(?:\.(\d{1,12}))?$/;

/** Parses a non-negative decimal ("0.016", "40", "1.25") exactly; throws RangeError otherwise. */
export function parseDecimal(text: string, what: string): Ratio {
  const match = decimalPattern.exec(text.trim());
  if (!match) throw new RangeError(`${what}: expected a non-negative decimal number written as a string, such as "0.04", got ${JSON.stringify(text)}`);
  const whole = match[1] ?? '0';
  const fraction = match[2] ?? '';
  return { numerator: BigInt(whole + fraction), denominator: 10n ** BigInt(fraction.length) };
}

/** Dollars as a decimal string (or a number, for convenience in JSON) → whole credits; more than six decimals is refused. */
export function usdToCredits(value: string | number, what: string): number {
  if (typeof value === 'string') {
    // Every charge converts its price strings again: the few a price list has are converted once.
    const known = creditsOfPrice.get(value);
    if (known !== undefined) return known;
    const credits = exactCredits(value, what);
    if (creditsOfPrice.size >= creditsOfPriceEntries) creditsOfPrice.clear();
    creditsOfPrice.set(value, credits);
    return credits;
  }
  return exactCredits(numberToDecimalText(value, what), what);
}

/** Price strings already converted (only those that converted: a bad one throws every time). */
const creditsOfPrice = new Map<string, number>();
const creditsOfPriceEntries = 4096;

function exactCredits(text: string, what: string): number {
  const ratio = parseDecimal(text, what);
  const scaled = ratio.numerator * BigInt(creditsPerUsd);
  if (scaled % ratio.denominator !== 0n) {
    throw new RangeError(`${what}: ${text} is finer than one credit ($0.000001)`);
  }
  const credits = scaled / ratio.denominator;
  if (credits > BigInt(maxCredits)) throw new RangeError(`${what}: ${text} is more than the largest amount the books hold ($${creditsToUsd(maxCredits)})`);
  return Number(credits);
}

/** Credits as a dollar string without trailing zeros: 16000 → "0.016". */
export function creditsToUsd(credits: number): string {
  const negative = credits < 0;
  const absolute = BigInt(Math.abs(credits));
  const whole = absolute / BigInt(creditsPerUsd);
  const fraction = (absolute % BigInt(creditsPerUsd)).toString().padStart(6, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction ? `.${fraction}` : ''}`;
}

/** ceil(numerator / denominator) for non-negative BigInts. */
export function ceilDivide(numerator: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new RangeError('denominator must be positive');
  return (numerator + denominator - 1n) / denominator;
}

export function toSafeNumber(value: bigint, what: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < 0n) throw new RangeError(`${what}: ${value} is out of range`);
  return Number(value);
}

/** Whole, non-negative credit amounts only: money never travels as a fraction. */
export function assertCredits(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > maxCredits) {
    throw new RangeError(`${what}: expected a whole number of credits from 0 to ${maxCredits}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function numberToDecimalText(value: number, what: string): string {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${what}: expected a non-negative amount, got ${value}`);
  // Six decimals is the credit's resolution; a float like 0.1 + 0.2 is read at that resolution, not its binary expansion.
  const text = value.toFixed(6);
  if (Number(text) !== value && Math.abs(Number(text) - value) > 1e-12) throw new RangeError(`${what}: ${value} is finer than one credit ($0.000001)`);
  return text;
}
