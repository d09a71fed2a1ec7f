// The core's estimateUsage hook, backed by the price book's image-token tables: OpenAI's `usage`
// numbers for a gpt-image request whose provider reported none (an estimate, see price-book.ts).

import type { ImageRequest } from '../core/image-request.js';
import type { ImageUsage } from '../core/ports/image-model.js';
import { formatSize } from '../core/sizes.js';
import type { PriceBook } from './price-book.js';

/**
 * Quality `auto` lets the model choose; an engine that reports no usage is taken to have chosen
 * `medium`, the middle tier (docs/billing.md, "Quality auto"). Reservations still hold `high`.
 */
export const autoQualityEstimate = 'medium';

export function createUsageEstimator(book: PriceBook): (request: ImageRequest, delivered: number) => ImageUsage | undefined {
  return (request, delivered) =>
    book.estimateUsage(request.model.id, {
      size: formatSize(request.size),
      quality: request.quality === 'auto' ? autoQualityEstimate : request.quality,
      images: delivered,
      promptCharacters: request.prompt.length,
      inputImageSizes: [...request.images, ...(request.mask ? [request.mask] : [])].map(({ width, height }) => ({ width, height })),
    });
}
