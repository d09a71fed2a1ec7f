// The bundled price list checked against the providers' published prices (OpenAI https://platform.openai.com/docs/pricing
// and the image-token table of https://platform.openai.com/docs/guides/image-generation; BFL https://docs.bfl.ai/quick_start/pricing;
// the per-model pages of replicate.com, fal.ai, ai.google.dev/gemini-api/docs/pricing and platform.stability.ai/pricing), and the
// arithmetic of each price form (per image, per token, per megapixel), groups and rounding.

import { describe, expect, it } from 'vitest';
import { readCatalogFile } from '../config/catalog-file.js';
import { createCatalog } from '../core/catalog/catalog.js';
import { creditsToUsd, usdToCredits } from '../core/money.js';
import { computeCharge, estimateImageUsage, gptImage2OutputTokens, inputImageTokens, PriceBook, UnpricedError, type ChargeFacts, type PriceQuote } from './price-book.js';
import { readPriceFile } from './price-file.js';
import { createUsageEstimator } from './usage-estimate.js';
import type { ImageRequest } from '../core/image-request.js';

const book = new PriceBook(readPriceFile());

function quote(model: string, group = 'default'): PriceQuote {
  const found = book.quote(model, group);
  if (!found) throw new Error(`no price for ${model}`);
  return found;
}

/** Output-only cost of one image (the published per-image view): no prompt, no input images. */
function oneImage(model: string, size: string, quality?: string): number {
  const facts: ChargeFacts = { size, quality, images: 1, promptCharacters: 0, inputImageSizes: [] };
  return computeCharge(quote(model), facts).amount;
}

describe('published prices (the providers\' price pages)', () => {
  // §1.1, quoted: | dall-e-2 | 256x256 | – | $0.016 | … | dall-e-3 | 1024x1792 / 1792x1024 | hd | $0.120 |
  it.each([
    ['dall-e-2', '256x256', 'standard', '0.016'],
    ['dall-e-2', '512x512', 'standard', '0.018'],
    ['dall-e-2', '1024x1024', 'standard', '0.020'],
    ['dall-e-3', '1024x1024', 'standard', '0.040'],
    ['dall-e-3', '1024x1792', 'standard', '0.080'],
    ['dall-e-3', '1792x1024', 'standard', '0.080'],
    ['dall-e-3', '1024x1024', 'hd', '0.080'],
    ['dall-e-3', '1024x1792', 'hd', '0.120'],
    ['dall-e-3', '1792x1024', 'hd', '0.120'],
  ])('§1.1 %s %s %s costs $%s per image', (model, size, quality, usd) => {
    expect(oneImage(model, size, quality)).toBe(usdToCredits(usd, 'published'));
  });

  // §1.3 output tokens × §1.2 output rate = §1.4 "exact" column, quoted here.
  const exact: Array<[string, string, string, string]> = [
    ['gpt-image-1', 'low', '1024x1024', '0.01088'],
    ['gpt-image-1', 'low', '1024x1536', '0.01632'],
    ['gpt-image-1', 'low', '1536x1024', '0.01600'],
    ['gpt-image-1', 'medium', '1024x1024', '0.04224'],
    ['gpt-image-1', 'medium', '1024x1536', '0.06336'],
    ['gpt-image-1', 'medium', '1536x1024', '0.06272'],
    ['gpt-image-1', 'high', '1024x1024', '0.16640'],
    ['gpt-image-1', 'high', '1024x1536', '0.24960'],
    ['gpt-image-1', 'high', '1536x1024', '0.24832'],
    ['gpt-image-1.5', 'low', '1024x1024', '0.008704'],
    ['gpt-image-1.5', 'low', '1024x1536', '0.013056'],
    ['gpt-image-1.5', 'low', '1536x1024', '0.012800'],
    ['gpt-image-1.5', 'medium', '1024x1024', '0.033792'],
    ['gpt-image-1.5', 'medium', '1024x1536', '0.050688'],
    ['gpt-image-1.5', 'medium', '1536x1024', '0.050176'],
    ['gpt-image-1.5', 'high', '1024x1024', '0.133120'],
    ['gpt-image-1.5', 'high', '1024x1536', '0.199680'],
    ['gpt-image-1.5', 'high', '1536x1024', '0.198656'],
    ['gpt-image-1-mini', 'low', '1024x1024', '0.002176'],
    ['gpt-image-1-mini', 'low', '1024x1536', '0.003264'],
    ['gpt-image-1-mini', 'low', '1536x1024', '0.003200'],
    ['gpt-image-1-mini', 'medium', '1024x1024', '0.008448'],
    ['gpt-image-1-mini', 'medium', '1024x1536', '0.012672'],
    ['gpt-image-1-mini', 'medium', '1536x1024', '0.012544'],
    ['gpt-image-1-mini', 'high', '1024x1024', '0.033280'],
    ['gpt-image-1-mini', 'high', '1024x1536', '0.049920'],
    ['gpt-image-1-mini', 'high', '1536x1024', '0.049664'],
    ['gpt-image-2', 'low', '1024x1024', '0.00588'],
    ['gpt-image-2', 'low', '1024x1536', '0.00474'],
    ['gpt-image-2', 'low', '1536x1024', '0.00474'],
    ['gpt-image-2', 'medium', '1024x1024', '0.05268'],
    ['gpt-image-2', 'medium', '1024x1536', '0.04116'],
    ['gpt-image-2', 'medium', '1536x1024', '0.04116'],
    ['gpt-image-2', 'high', '1024x1024', '0.21072'],
    ['gpt-image-2', 'high', '1024x1536', '0.16464'],
    ['gpt-image-2', 'high', '1536x1024', '0.16464'],
  ];
  it.each(exact)('§1.4 %s %s %s: output tokens × rate = $%s exactly', (model, quality, size, usd) => {
    expect(oneImage(model, size, quality)).toBe(usdToCredits(usd, 'published exact'));
  });

  // §1.4 "published" (rounded) column for gpt-image-1 and 1.5: our exact price rounds to it.
  it.each([
    ['gpt-image-1', 'low', '1024x1024', '0.011'],
    ['gpt-image-1', 'medium', '1024x1536', '0.063'],
    ['gpt-image-1', 'high', '1024x1024', '0.167'],
    ['gpt-image-1', 'high', '1536x1024', '0.25'],
    ['gpt-image-1.5', 'low', '1024x1024', '0.009'],
    ['gpt-image-1.5', 'high', '1024x1536', '0.20'],
    ['gpt-image-2', 'medium', '1024x1024', '0.053'],
    ['gpt-image-2', 'high', '1024x1024', '0.211'],
  ])('§1.4 %s %s %s is within one unit of the published, rounded $%s', (model, quality, size, usd) => {
    const published = usdToCredits(usd, 'published');
    const lastDigit = 10 ** (6 - (usd.split('.')[1]?.length ?? 0));
    expect(Math.abs(oneImage(model, size, quality) - published)).toBeLessThanOrEqual(lastDigit);
  });

  it('§1.3 gpt-image-2 formula: 196/158 low, 1756/1372 medium, 7024/5488 high; 1920x1080 high is 5280', () => {
    const tokens = (quality: string, width: number, height: number) => gptImage2OutputTokens(quality, { width, height });
    expect([tokens('low', 1024, 1024), tokens('low', 1024, 1536), tokens('low', 1536, 1024)]).toEqual([196, 158, 158]);
    expect([tokens('medium', 1024, 1024), tokens('medium', 1024, 1536)]).toEqual([1756, 1372]);
    expect([tokens('high', 1024, 1024), tokens('high', 1536, 1024)]).toEqual([7024, 5488]);
    expect(tokens('high', 1920, 1080)).toBe(5280);
    // "1920x1080 high … 5280 × $30/1M = $0.1584"
    expect(oneImage('gpt-image-2', '1920x1080', 'high')).toBe(usdToCredits('0.1584', 'published'));
  });

  it('§7.1 worked example: gpt-image-1 medium 1024x1536 with a 60-token prompt totals $0.06366', () => {
    const charge = computeCharge(quote('gpt-image-1'), {
      size: '1024x1536',
      quality: 'medium',
      images: 1,
      promptCharacters: 0,
      inputImageSizes: [],
      usage: { inputTokens: 60, outputTokens: 1584, inputTextTokens: 60, inputImageTokens: 0 },
    });
    expect(creditsToUsd(charge.amount)).toBe('0.06366');
    expect([charge.unit, charge.unitPrice, charge.outputTokens]).toEqual(['token', 40_000_000, 1584]);
  });

  it('§1.5 input images: 1024x1024 and 1024x1025 are one tile (194 tokens), 512x513 two (323)', () => {
    expect(inputImageTokens({ width: 1024, height: 1024 })).toBe(194);
    expect(inputImageTokens({ width: 1024, height: 1025 })).toBe(194);
    expect(inputImageTokens({ width: 512, height: 513 })).toBe(323);
  });

  // §2 BFL [off]: kontext pro 4 credits = $0.04, max $0.08, pro-1.1 $0.04, ultra $0.06.
  it.each([
    ['flux-kontext-pro', '0.04'],
    ['flux-kontext-max', '0.08'],
    ['flux-1.1-pro', '0.04'],
    ['flux-1.1-pro-ultra', '0.06'],
  ])('§2 %s costs $%s per image', (model, usd) => {
    expect(oneImage(model, '1024x1024')).toBe(usdToCredits(usd, 'published'));
    expect(oneImage(model, '1440x768')).toBe(usdToCredits(usd, 'published'));
  });

  // §3.2 fal, per MP: flux/schnell $0.003, flux/dev $0.025 — fractional megapixels, rounded up to a credit.
  it('§3.2 flux-schnell and flux-dev are priced per megapixel', () => {
    expect(oneImage('flux-schnell', '1000x1000')).toBe(3000);
    expect(oneImage('flux-dev', '1000x1000')).toBe(25_000);
    // 1024x1024 = 1.048576 MP → $0.026214400 → 26215 credits (rounded up).
    expect(oneImage('flux-dev', '1024x1024')).toBe(26_215);
    expect(oneImage('flux-schnell', '2048x2048')).toBe(Math.ceil(3000 * 4.194304));
    expect(computeCharge(quote('flux-dev'), { size: '1000x1000', images: 3, promptCharacters: 0, inputImageSizes: [] }).amount).toBe(75_000);
  });

  // §4 and §5, quoted: imagen-4.0 fast/standard/ultra $0.02/$0.04/$0.06; gemini-2.5-flash-image $0.039;
  // Stability Ultra 8, SD3.5 Large 6.5, Large Turbo 4, Medium 3.5, Core 3 credits of $0.01.
  it.each([
    ['imagen-4.0-fast-generate-001', '0.02'],
    ['imagen-4.0-generate-001', '0.04'],
    ['imagen-4.0-ultra-generate-001', '0.06'],
    ['gemini-2.5-flash-image', '0.039'],
    ['stable-image-ultra', '0.08'],
    ['sd3.5-large', '0.065'],
    ['sd3.5-large-turbo', '0.04'],
    ['sd3.5-medium', '0.035'],
    ['stable-image-core', '0.03'],
  ])('§4/§5 %s costs $%s per image', (model, usd) => {
    expect(oneImage(model, '1024x1024')).toBe(usdToCredits(usd, 'published'));
  });

  it.each(['gemini-3-pro-image-preview', 'gemini-3-pro-image'])('§4 %s by tier: 1K and 2K $0.134, 4K $0.24', (model) => {
    expect(oneImage(model, '1024x1024')).toBe(134_000);
    expect(oneImage(model, '2048x2048')).toBe(134_000);
    expect(oneImage(model, '2752x1536')).toBe(134_000);
    expect(oneImage(model, '4096x4096')).toBe(240_000);
  });

  it('§2/§7.3 flux-2-pro: 3 c the first megapixel, 1.5 c each further output and input megapixel', () => {
    // "flux-2-pro 1024×1024 t2i = 3 + 0.0486 × 1.5 ≈ 3.07 c"
    expect(oneImage('flux-2-pro', '1024x1024')).toBe(30_729);
    // §2: "$0.03 / $0.045": 1 MP text-to-image, and an edit with a 1 MP reference.
    expect(oneImage('flux-2-pro', '1000x1000')).toBe(30_000);
    const edit = computeCharge(quote('flux-2-pro'), { size: '1000x1000', images: 1, promptCharacters: 0, inputImageSizes: [{ width: 1000, height: 1000 }] });
    expect(edit.amount).toBe(45_000);
  });

  it('sora_image is priced like gpt-image-1.5 per image (chatgpt-image-latest)', () => {
    expect(oneImage('sora_image', '1024x1024', 'low')).toBe(usdToCredits('0.009', 'published'));
    expect(oneImage('sora_image', '1536x1024', 'high')).toBe(usdToCredits('0.20', 'published'));
  });

  it('prices every size and quality that each catalog model accepts', () => {
    const catalog = createCatalog(readCatalogFile());
    // Open-weights models served by the operator's own engines: no upstream bills them, so the file says 0.
    const selfHosted = new Set(['stable-diffusion-xl']);
    for (const model of catalog.list()) {
      if (selfHosted.has(model.id)) {
        expect(oneImage(model.id, '1024x1024', undefined)).toBe(0);
        continue;
      }
      const sizes = 'enum' in model.sizes ? model.sizes.enum : ['1024x1024', '1536x640'];
      for (const quality of model.qualities ?? [undefined]) {
        for (const size of sizes) {
          const amount = oneImage(model.id, size, quality);
          expect(amount, `${model.id} ${size} ${quality}`).toBeGreaterThan(0);
        }
      }
    }
  });
});

// Issue 10 item 6: `auto` is what OpenAI's API defaults to and bills by the tokens it reports.
describe('quality auto', () => {
  it('reserves auto at high, the most it can cost, and settles reported usage as reported', () => {
    expect(oneImage('gpt-image-2', '1024x1024', 'auto')).toBe(oneImage('gpt-image-2', '1024x1024', 'high'));
    const reported = computeCharge(quote('gpt-image-2'), {
      size: '1024x1024',
      quality: 'auto',
      images: 1,
      promptCharacters: 0,
      inputImageSizes: [],
      usage: { inputTokens: 0, outputTokens: 1756, inputTextTokens: 0, inputImageTokens: 0 },
    });
    // Billed as the medium render it was: 1756 × $30/1M.
    expect(creditsToUsd(reported.amount)).toBe('0.05268');
  });

  it("estimates an unreported auto render as medium (the engine's usage), never high", () => {
    const catalog = createCatalog(readCatalogFile());
    const estimate = createUsageEstimator(book);
    const model = catalog.get('gpt-image-2')?.model;
    if (model === undefined) throw new Error('gpt-image-2 missing');
    const usage = estimate({ model, quality: 'auto', size: { width: 1024, height: 1024 }, prompt: '', images: [] } as unknown as ImageRequest, 1);
    expect(usage?.outputTokens).toBe(gptImage2OutputTokens('medium', { width: 1024, height: 1024 }));
  });
});

describe('price arithmetic', () => {
  it('charges n images as n generations, and usage estimates count the prompt at ~4 characters a token', () => {
    const facts = { size: '1024x1024', quality: 'low', images: 3, promptCharacters: 40, inputImageSizes: [] };
    const usage = estimateImageUsage({ low: { '1024x1024': 272 } }, facts);
    expect(usage).toEqual({ inputTokens: 10, outputTokens: 816, inputTextTokens: 10, inputImageTokens: 0 });
    // 10 × $5/1M + 816 × $40/1M = 50 + 32640 credits.
    expect(computeCharge(quote('gpt-image-1'), facts).amount).toBe(32_690);
  });

  it('estimates edits with the input images and their text overhead', () => {
    const usage = book.estimateUsage('gpt-image-1', { size: '1024x1024', quality: 'low', images: 1, promptCharacters: 8, inputImageSizes: [{ width: 1024, height: 1024 }, { width: 512, height: 513 }] });
    expect(usage).toEqual({ inputTokens: 2 + 64 + 194 + 323, outputTokens: 272, inputTextTokens: 66, inputImageTokens: 517 });
    expect(book.estimateUsage('dall-e-3', { size: '1024x1024', images: 1, promptCharacters: 8, inputImageSizes: [] })).toBeUndefined();
  });

  it('applies a group multiplier, rounding the total up once; a group price is used as written', () => {
    const discounted = new PriceBook(readPriceFile(), {
      models: {},
      groups: { partners: { multiplier: '0.85', models: { 'dall-e-3': { per_image: '0.01' } } } },
    });
    const partners = (model: string, size: string, images: number) =>
      computeCharge(discounted.quote(model, 'partners') as PriceQuote, { size, quality: 'standard', images, promptCharacters: 0, inputImageSizes: [] }).amount;
    expect(partners('dall-e-2', '256x256', 1)).toBe(13_600);
    expect(partners('dall-e-2', '256x256', 3)).toBe(40_800);
    expect(partners('dall-e-3', '1024x1792', 2)).toBe(20_000);
    // Unknown groups pay the base price.
    expect(computeCharge(discounted.quote('dall-e-2', 'nobody') as PriceQuote, { size: '256x256', images: 1, promptCharacters: 0, inputImageSizes: [] }).amount).toBe(16_000);
  });

  it('rounds a fraction of a credit up, never down to free', () => {
    const tiny = new PriceBook({ version: 1, models: { 'flux-schnell': { per_megapixel: { price: '0.000001' } } } });
    expect(computeCharge(tiny.quote('flux-schnell', 'default') as PriceQuote, { size: '256x256', images: 1, promptCharacters: 0, inputImageSizes: [] }).amount).toBe(1);
  });

  it("applies BFL's first-megapixel form", () => {
    const flux2 = new PriceBook({ version: 1, models: { m: { per_megapixel: { price: '0.015', first_megapixel: '0.03' } } } });
    const charge = (size: string) => computeCharge(flux2.quote('m', 'default') as PriceQuote, { size, images: 1, promptCharacters: 0, inputImageSizes: [] }).amount;
    // §7.3: flux-2-pro 1024×1024 = 3 + 0.048576 × 1.5 ≈ 3.07 c.
    expect(charge('1024x1024')).toBe(30_729);
    expect(charge('512x512')).toBe(30_000);
  });

  it('refuses malformed prices with the field named, and sizes it has no price for', () => {
    expect(() => new PriceBook({ version: 1, models: { m: { per_image: 0.04 as unknown as string } } })).toThrow(/per_image/);
    expect(() => new PriceBook({ version: 1, models: { m: { per_token: { text_input: '5' } as never } } })).toThrow(/image_output/);
    expect(() => new PriceBook({ version: 1, models: { m: { per_image: '0.0000001' } } })).toThrow(/finer than one credit/);
    expect(() => new PriceBook({ version: 1, models: { m: { per_image: '1', per_megapixel: { price: '1' } } as never } })).toThrow(/exactly one/);
    expect(() => computeCharge(quote('dall-e-3'), { size: '512x512', quality: 'standard', images: 1, promptCharacters: 0, inputImageSizes: [] })).toThrow(UnpricedError);
  });

  it('changes at run time and reverts to the file', () => {
    const live = new PriceBook(readPriceFile());
    live.setModelPrice('dall-e-2', { per_image: '0.5' });
    expect(computeCharge(live.quote('dall-e-2', 'default') as PriceQuote, { size: '256x256', images: 1, promptCharacters: 0, inputImageSizes: [] }).amount).toBe(500_000);
    live.setModelPrice('dall-e-2', undefined);
    expect(computeCharge(live.quote('dall-e-2', 'default') as PriceQuote, { size: '256x256', images: 1, promptCharacters: 0, inputImageSizes: [] }).amount).toBe(16_000);
  });
});
