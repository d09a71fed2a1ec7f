// The price list at run time: catalog/prices.yaml with operators' changes layered on top, price
// groups, OpenAI's image-token accounting, and the pure arithmetic that turns a request into credits.

import type { ImageUsage, PixelSize } from '../core/ports/image-model.js';
import { ceilDivide, creditsToUsd, maxMultiplier, maxPriceCredits, one, parseDecimal, toSafeNumber, usdToCredits, type Ratio } from '../core/money.js';

/**
 * Per image, by quality then size; `*` matches any. A size key is an exact `WxH`, or a tier
 * `<=WxH` matching any size of at most that many pixels (the smallest such tier wins).
 * A bare string is one flat price. USD decimal strings.
 */
export type PerImageTable = string | Record<string, string | Record<string, string>>;

/** USD per 1M tokens, as OpenAI publishes them. */
export interface TokenRates {
  text_input: string;
  cached_text_input?: string;
  image_input?: string;
  cached_image_input?: string;
  image_output: string;
}

export interface MegapixelRates {
  /** USD per megapixel (fractional megapixels: width × height / 1e6). */
  price: string;
  /**
   * When set, BFL's FLUX.2 formula: the first output megapixel (or any part of it) costs this, each
   * further output megapixel and each input megapixel (edit references) costs `price`.
   */
  first_megapixel?: string;
}

/** One model's price, in exactly one of three forms. `note` says where the numbers come from. */
export type PriceSpec =
  | { per_image: PerImageTable; note?: string }
  | { per_token: TokenRates; note?: string }
  | { per_megapixel: MegapixelRates; note?: string };

/** A price group: a multiplier on the base prices, and/or its own prices for some models (used as-is). */
export interface PriceGroupSpec {
  multiplier?: string;
  models?: Record<string, PriceSpec>;
  note?: string;
}

/** quality → size → image output tokens, or a named formula for free-form sizes. */
export type OutputTokenSpec = Record<string, Record<string, number>> | { formula: 'gpt-image-2' };

export interface PriceFile {
  version: number;
  models: Record<string, PriceSpec>;
  groups?: Record<string, PriceGroupSpec>;
  image_output_tokens?: Record<string, OutputTokenSpec>;
}

export type PriceUnit = 'image' | 'token' | 'megapixel';

/**
 * What a request is charged by, fixed when it reserves: a later price change never reprices a
 * request or task already in flight. JSON-serialisable (stored with the reservation).
 */
export interface PriceQuote {
  model: string;
  group: string;
  spec: PriceSpec;
  /** Decimal string; "1" when the group does not scale this model's price. */
  multiplier: string;
  /** The model's image-token table, for estimating usage a provider did not report. */
  outputTokens: OutputTokenSpec | null;
}

/** The facts a charge is computed from. */
export interface ChargeFacts {
  size: string;
  quality?: string;
  /** Images to charge for: requested (estimate) or delivered (settle). */
  images: number;
  promptCharacters: number;
  /** Edit inputs and the mask, for input-token estimates. */
  inputImageSizes: PixelSize[];
  /** Token counts the provider reported (or the core estimated); only token prices use them. */
  usage?: ImageUsage;
}

export interface Charge {
  amount: number;
  unit: PriceUnit;
  /** Credits per image, per 1M image-output tokens, or per megapixel. */
  unitPrice: number;
  inputTextTokens: number | null;
  inputImageTokens: number | null;
  outputTokens: number | null;
  detail: Record<string, unknown>;
}

/** A request the price list cannot price (no entry, or no entry for that size and quality). */
export class UnpricedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnpricedError';
  }
}

const million = 1_000_000n;

/** A unit price in credits, bounded so that a charge of many units stays an exact integer. */
function unitPriceCredits(text: string, what: string): number {
  const credits = usdToCredits(text, what);
  if (credits > maxPriceCredits) throw new RangeError(`${what}: ${text} is above the largest unit price ($${creditsToUsd(maxPriceCredits)})`);
  return credits;
}

function checkMultiplier(text: string, what: string): void {
  const ratio = parseDecimal(text, what);
  if (ratio.numerator > BigInt(maxMultiplier) * ratio.denominator) throw new RangeError(`${what}: ${text} is above the largest multiplier (${maxMultiplier})`);
}

/** Checks a price spec and converts its dollars to credits; throws RangeError naming the bad field. */
export function compilePrice(spec: unknown, what: string): PriceSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new RangeError(`${what}: expected an object with per_image, per_token or per_megapixel`);
  const record = spec as Record<string, unknown>;
  const forms = ['per_image', 'per_token', 'per_megapixel'].filter((form) => record[form] !== undefined);
  if (forms.length !== 1) throw new RangeError(`${what}: give exactly one of per_image, per_token or per_megapixel`);
  const unknown = Object.keys(record).filter((field) => !['per_image', 'per_token', 'per_megapixel', 'note'].includes(field));
  if (unknown.length > 0) throw new RangeError(`${what}: unknown field ${unknown.join(', ')}`);
  if (record.note !== undefined && typeof record.note !== 'string') throw new RangeError(`${what}.note: expected a string`);
  if (record.per_image !== undefined) {
    const table = record.per_image;
    if (typeof table === 'string') unitPriceCredits(table, `${what}.per_image`);
    else if (table && typeof table === 'object' && !Array.isArray(table)) {
      for (const [quality, sizes] of Object.entries(table)) {
        if (typeof sizes === 'string') unitPriceCredits(sizes, `${what}.per_image.${quality}`);
        else if (sizes && typeof sizes === 'object' && !Array.isArray(sizes)) {
          for (const [size, price] of Object.entries(sizes)) {
            if (size !== '*' && !/^(<=)?\d+x\d+$/.test(size)) throw new RangeError(`${what}.per_image.${quality}: '${size}' is not a WxH size, a <=WxH tier or *`);
            if (typeof price !== 'string') throw new RangeError(`${what}.per_image.${quality}.${size}: expected a decimal string such as "0.04"`);
            unitPriceCredits(price, `${what}.per_image.${quality}.${size}`);
          }
        } else throw new RangeError(`${what}.per_image.${quality}: expected a price or a size → price map`);
      }
    } else throw new RangeError(`${what}.per_image: expected a price or a quality → size → price map`);
  } else if (record.per_token !== undefined) {
    const rates = record.per_token as Record<string, unknown>;
    if (!rates || typeof rates !== 'object') throw new RangeError(`${what}.per_token: expected an object of USD-per-1M-token rates`);
    for (const field of Object.keys(rates)) {
      if (!['text_input', 'cached_text_input', 'image_input', 'cached_image_input', 'image_output'].includes(field)) throw new RangeError(`${what}.per_token: unknown rate ${field}`);
      if (typeof rates[field] !== 'string') throw new RangeError(`${what}.per_token.${field}: expected a decimal string such as "5.00"`);
      unitPriceCredits(rates[field] as string, `${what}.per_token.${field}`);
    }
    if (rates.text_input === undefined || rates.image_output === undefined) throw new RangeError(`${what}.per_token: text_input and image_output are required`);
  } else {
    const rates = record.per_megapixel as Record<string, unknown>;
    if (!rates || typeof rates !== 'object' || typeof rates.price !== 'string') throw new RangeError(`${what}.per_megapixel.price: expected a decimal string such as "0.025"`);
    unitPriceCredits(rates.price, `${what}.per_megapixel.price`);
    if (rates.first_megapixel !== undefined) {
      if (typeof rates.first_megapixel !== 'string') throw new RangeError(`${what}.per_megapixel.first_megapixel: expected a decimal string`);
      unitPriceCredits(rates.first_megapixel, `${what}.per_megapixel.first_megapixel`);
    }
    const unknownRates = Object.keys(rates).filter((field) => field !== 'price' && field !== 'first_megapixel');
    if (unknownRates.length > 0) throw new RangeError(`${what}.per_megapixel: unknown field ${unknownRates.join(', ')}`);
  }
  return spec as PriceSpec;
}

export function compileGroup(spec: unknown, what: string): PriceGroupSpec {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new RangeError(`${what}: expected an object with multiplier and/or models`);
  const record = spec as Record<string, unknown>;
  const unknown = Object.keys(record).filter((field) => !['multiplier', 'models', 'note'].includes(field));
  if (unknown.length > 0) throw new RangeError(`${what}: unknown field ${unknown.join(', ')}`);
  if (record.multiplier !== undefined) {
    if (typeof record.multiplier !== 'string') throw new RangeError(`${what}.multiplier: expected a decimal string such as "0.8"`);
    checkMultiplier(record.multiplier, `${what}.multiplier`);
  }
  if (record.models !== undefined) {
    if (!record.models || typeof record.models !== 'object') throw new RangeError(`${what}.models: expected model → price`);
    for (const [model, price] of Object.entries(record.models)) compilePrice(price, `${what}.models.${model}`);
  }
  return spec as PriceGroupSpec;
}

/**
 * Image output tokens for one image (OpenAI's table, or the gpt-image-2 calculator formula). A
 * quality the table does not list — `auto`, or a retired model's `standard`/`hd` served by its
 * successor — counts as `high`, the most it can cost: reservations never hold too little, and the
 * settlement charges the tokens the upstream reports (docs/billing.md).
 */
export function imageOutputTokens(spec: OutputTokenSpec, quality: string | undefined, size: PixelSize): number {
  if ('formula' in spec && typeof spec.formula === 'string') return gptImage2OutputTokens(quality ?? 'high', size);
  const table = spec as Record<string, Record<string, number>>;
  const row = table[quality ?? 'high'] ?? table.high ?? Object.values(table)[0];
  if (!row) return 0;
  const exact = row[`${size.width}x${size.height}`];
  if (exact !== undefined) return exact;
  // A size the table does not list: the square entry scaled by pixel count.
  const square = row['1024x1024'] ?? Object.values(row)[0] ?? 0;
  return Math.ceil((square * size.width * size.height) / (1024 * 1024));
}

/** The formula of OpenAI's gpt-image-2 cost calculator (https://platform.openai.com/docs/guides/image-generation; community-derived). */
export function gptImage2OutputTokens(quality: string, size: PixelSize): number {
  const q = ({ low: 16, medium: 48, high: 96 } as Record<string, number>)[quality] ?? 96;
  const long = Math.max(size.width, size.height);
  const short = Math.min(size.width, size.height);
  const s = Math.floor((2 * q * short + long) / (2 * long));
  return Math.ceil((q * s * (2_000_000 + size.width * size.height)) / 4_000_000);
}

/**
 * Community-measured and unconfirmed (OpenAI's vision pricing calculator, https://platform.openai.com/docs/guides/images-vision): an input image is scaled so its shorter side
 * is at most 512 px, covered with 512-px tiles, and costs 65 + 129 tokens per tile.
 */
export function inputImageTokens(size: PixelSize): number {
  const short = Math.min(size.width, size.height);
  const scale = short > 512 ? 512 / short : 1;
  const width = Math.floor(size.width * scale);
  const height = Math.floor(size.height * scale);
  const tiles = Math.ceil(width / 512) * Math.ceil(height / 512);
  return 65 + 129 * tiles;
}

/** Extra text tokens OpenAI counts per input image on edits (community-measured, unconfirmed). */
const textTokensPerInputImage = 32;

/**
 * Usage as OpenAI would report it, for when a provider reports none. An estimate: the prompt is
 * counted at ~4 characters per token (OpenAI's rule of thumb, https://help.openai.com/en/articles/4936856), images from OpenAI's published table.
 */
export function estimateImageUsage(spec: OutputTokenSpec, facts: Omit<ChargeFacts, 'usage'>): ImageUsage {
  const size = parseSizeText(facts.size);
  const outputTokens = imageOutputTokens(spec, facts.quality, size) * facts.images;
  const inputTextTokens = Math.ceil(facts.promptCharacters / 4) + textTokensPerInputImage * facts.inputImageSizes.length;
  const inputImage = facts.inputImageSizes.reduce((total, image) => total + inputImageTokens(image), 0);
  return { inputTokens: inputTextTokens + inputImage, outputTokens, inputTextTokens, inputImageTokens: inputImage };
}

function parseSizeText(text: string): PixelSize {
  const match = /^(\d+)x(\d+)$/.exec(text);
  if (!match) throw new UnpricedError(`size '${text}' is not WxH`);
  return { width: Number(match[1]), height: Number(match[2]) };
}

function perImagePrice(table: PerImageTable, quality: string | undefined, size: string): string | undefined {
  if (typeof table === 'string') return table;
  const row = (quality !== undefined ? table[quality] : undefined) ?? table['*'];
  if (row === undefined) return undefined;
  if (typeof row === 'string') return row;
  const exact = row[size];
  if (exact !== undefined) return exact;
  const pixels = pixelCount(size);
  const tier = Object.entries(row)
    .filter(([key]) => key.startsWith('<='))
    .map(([key, price]) => ({ limit: pixelCount(key.slice(2)), price }))
    .filter(({ limit }) => pixels <= limit)
    .sort((left, right) => left.limit - right.limit)[0];
  return tier?.price ?? row['*'];
}

function pixelCount(size: string): number {
  const { width, height } = parseSizeText(size);
  return width * height;
}

/** Credits × multiplier, rounded up once. `exact` is a rational amount: numerator / denominator credits. */
function finish(exactNumerator: bigint, exactDenominator: bigint, multiplier: Ratio): number {
  return toSafeNumber(ceilDivide(exactNumerator * multiplier.numerator, exactDenominator * multiplier.denominator), 'charge');
}

/** The charge for `facts` under `quote`; throws UnpricedError when the price list has no entry for them. */
export function computeCharge(quote: PriceQuote, facts: ChargeFacts): Charge {
  const multiplier = quote.multiplier === '1' ? one : parseDecimal(quote.multiplier, 'multiplier');
  const spec = quote.spec;
  // Each unit's fields assigned onto a fresh literal of the common ones, not spread and extended (docs/architecture.md: no hidden class per request).
  const base = () => ({ group: quote.group, multiplier: quote.multiplier, images: facts.images, size: facts.size, quality: facts.quality ?? null });
  if ('per_image' in spec) {
    const price = perImagePrice(spec.per_image, facts.quality, facts.size);
    if (price === undefined) throw new UnpricedError(`${quote.model} has no price for size ${facts.size}${facts.quality ? ` at quality ${facts.quality}` : ''}`);
    const unitPrice = usdToCredits(price, 'per_image');
    const amount = finish(BigInt(unitPrice) * BigInt(facts.images), 1n, multiplier);
    return { amount, unit: 'image', unitPrice, inputTextTokens: null, inputImageTokens: null, outputTokens: null, detail: Object.assign(base(), { unit_price_usd: price }) };
  }
  if ('per_megapixel' in spec) {
    const size = parseSizeText(facts.size);
    const pixels = BigInt(size.width * size.height);
    const perMegapixel = BigInt(usdToCredits(spec.per_megapixel.price, 'per_megapixel.price'));
    const first = spec.per_megapixel.first_megapixel;
    // Credits per image × 1e6 (pixels are counted exactly; the megapixel is fractional).
    const inputPixels = BigInt(facts.inputImageSizes.reduce((total, input) => total + input.width * input.height, 0));
    const perImageMicro =
      first === undefined
        ? perMegapixel * pixels
        : BigInt(usdToCredits(first, 'per_megapixel.first_megapixel')) * million + (pixels > million ? (pixels - million) * perMegapixel : 0n) + inputPixels * perMegapixel;
    const amount = finish(perImageMicro * BigInt(facts.images), million, multiplier);
    return {
      amount,
      unit: 'megapixel',
      unitPrice: Number(perMegapixel),
      inputTextTokens: null,
      inputImageTokens: null,
      outputTokens: null,
      detail: Object.assign(base(), { megapixels_per_image: Number(pixels) / 1e6, price_per_megapixel_usd: spec.per_megapixel.price, first_megapixel_usd: first ?? null }),
    };
  }
  const rates = spec.per_token;
  const usage = facts.usage ?? (quote.outputTokens ? estimateImageUsage(quote.outputTokens, facts) : undefined);
  if (!usage) throw new UnpricedError(`${quote.model} is priced per token, but neither usage nor an image-token table is known for it`);
  const imageTokens = usage.inputImageTokens ?? 0;
  const textTokens = usage.inputTextTokens ?? Math.max(0, usage.inputTokens - imageTokens);
  const textRate = BigInt(usdToCredits(rates.text_input, 'per_token.text_input'));
  const imageInputRate = BigInt(usdToCredits(rates.image_input ?? rates.text_input, 'per_token.image_input'));
  const outputRate = BigInt(usdToCredits(rates.image_output, 'per_token.image_output'));
  const exact = BigInt(textTokens) * textRate + BigInt(imageTokens) * imageInputRate + BigInt(usage.outputTokens) * outputRate;
  const amount = finish(exact, million, multiplier);
  return {
    amount,
    unit: 'token',
    unitPrice: Number(outputRate),
    inputTextTokens: textTokens,
    inputImageTokens: imageTokens,
    outputTokens: usage.outputTokens,
    detail: Object.assign(base(), {
      usage_source: facts.usage ? 'reported' : 'estimated',
      usd_per_million: { text_input: rates.text_input, image_input: rates.image_input ?? rates.text_input, image_output: rates.image_output },
    }),
  };
}

export interface PriceOverrides {
  models: Record<string, PriceSpec>;
  groups: Record<string, PriceGroupSpec>;
}

/** The effective price list: the file, then operators' overrides (which win), changeable at run time. */
export class PriceBook {
  readonly #file: PriceFile;
  readonly #models = new Map<string, PriceSpec>();
  readonly #groups = new Map<string, PriceGroupSpec>();
  /**
   * Quotes already made, per group and model, emptied by every price change: each request quoted a
   * new object (and its reservation wrote it out as JSON) for the same few prices. Frozen, since every
   * request shares them; only models with a price are kept, so unknown model names cannot grow it.
   */
  readonly #quotes = new Map<string, Map<string, PriceQuote>>();

  constructor(file: PriceFile, overrides: PriceOverrides = { models: {}, groups: {} }) {
    this.#file = file;
    for (const [model, spec] of Object.entries(file.models)) this.#models.set(model, compilePrice(spec, `prices.models.${model}`));
    for (const [name, spec] of Object.entries(file.groups ?? {})) this.#groups.set(name, compileGroup(spec, `prices.groups.${name}`));
    for (const [model, spec] of Object.entries(overrides.models)) this.#models.set(model, compilePrice(spec, `price override ${model}`));
    for (const [name, spec] of Object.entries(overrides.groups)) this.#groups.set(name, compileGroup(spec, `price group override ${name}`));
  }

  /** The price a key of `group` pays for `model`; undefined when the model has none. */
  quote(model: string, group: string): PriceQuote | undefined {
    const known = this.#quotes.get(group)?.get(model);
    if (known !== undefined) return known;
    const quote = this.#freshQuote(model, group);
    if (quote === undefined) return undefined;
    let ofGroup = this.#quotes.get(group);
    if (ofGroup === undefined) {
      ofGroup = new Map();
      this.#quotes.set(group, ofGroup);
    }
    ofGroup.set(model, Object.freeze(quote));
    return quote;
  }

  #freshQuote(model: string, group: string): PriceQuote | undefined {
    const groupSpec = this.#groups.get(group);
    const outputTokens = this.outputTokens(model);
    const own = groupSpec?.models?.[model];
    if (own) return { model, group, spec: own, multiplier: '1', outputTokens };
    const spec = this.#models.get(model);
    if (!spec) return undefined;
    return { model, group, spec, multiplier: groupSpec?.multiplier ?? '1', outputTokens };
  }

  outputTokens(model: string): OutputTokenSpec | null {
    return this.#file.image_output_tokens?.[model] ?? null;
  }

  /** OpenAI-style usage for a model with an image-token table; undefined for other models. */
  estimateUsage(model: string, facts: Omit<ChargeFacts, 'usage'>): ImageUsage | undefined {
    const spec = this.outputTokens(model);
    return spec ? estimateImageUsage(spec, facts) : undefined;
  }

  modelPrice(model: string): PriceSpec | undefined {
    return this.#models.get(model);
  }

  hasGroup(name: string): boolean {
    return name === 'default' || this.#groups.has(name);
  }

  /** Replaces (or, with undefined, reverts to the file's) price of one model. Validates first. */
  setModelPrice(model: string, spec: PriceSpec | undefined): void {
    this.#quotes.clear();
    if (spec === undefined) {
      const fromFile = this.#file.models[model];
      if (fromFile) this.#models.set(model, fromFile);
      else this.#models.delete(model);
    } else this.#models.set(model, compilePrice(spec, `price ${model}`));
  }

  setGroup(name: string, spec: PriceGroupSpec | undefined): void {
    this.#quotes.clear();
    if (spec === undefined) {
      const fromFile = this.#file.groups?.[name];
      if (fromFile) this.#groups.set(name, fromFile);
      else this.#groups.delete(name);
    } else this.#groups.set(name, compileGroup(spec, `price group ${name}`));
  }

  /** Everything in effect, for the admin API. */
  describe(): { credit_usd: string; models: Record<string, PriceSpec>; groups: Record<string, PriceGroupSpec>; image_output_tokens: Record<string, OutputTokenSpec> } {
    return {
      credit_usd: creditsToUsd(1),
      models: Object.fromEntries([...this.#models].sort(([left], [right]) => left.localeCompare(right))),
      groups: Object.fromEntries(this.#groups),
      image_output_tokens: this.#file.image_output_tokens ?? {},
    };
  }
}
