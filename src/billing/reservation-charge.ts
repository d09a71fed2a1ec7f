// The arithmetic of a reservation, shared by every BillingStore: what a reserve estimates, what a
// settle charges for what was delivered, and the errors a metered key meets. No storage here.

import { GatewayError } from '../core/errors.js';
import { creditsToUsd } from '../core/money.js';
import type { ReservationRequest, Settlement } from '../core/ports/billing.js';
import type { PixelSize } from '../core/ports/image-model.js';
import { computeCharge, UnpricedError, type Charge, type PriceQuote } from './price-book.js';

/** What a reservation keeps besides its price quote, as JSON in the `facts` column. */
export interface ReservationFacts {
  /** Whether the key had a balance at reserve time: settle then charges it (an unlimited key's usage is only recorded). */
  metered: boolean;
  promptCharacters: number;
  inputImageSizes: PixelSize[];
  inputImages: number;
}

export function reservationFacts(request: ReservationRequest): Omit<ReservationFacts, 'metered'> {
  return {
    promptCharacters: request.promptCharacters,
    inputImages: request.inputImages,
    // Without sizes, each input counts as one 512-px tile (the smallest an image can cost).
    inputImageSizes: request.inputImageSizes ?? Array.from({ length: request.inputImages }, () => ({ width: 512, height: 512 })),
  };
}

/**
 * The estimate a reserve debits: the price of every image requested. A metered key cannot use a
 * model without a price (permission_denied); an unlimited key uses it for free.
 */
export function estimateReservation(quote: PriceQuote | null, request: ReservationRequest, facts: Omit<ReservationFacts, 'metered'>, metered: boolean): number {
  if (!quote) {
    if (metered) throw unpricedError(request.model, undefined);
    return 0;
  }
  try {
    return computeCharge(quote, {
      size: request.size,
      quality: request.quality,
      images: request.imagesRequested,
      promptCharacters: facts.promptCharacters,
      inputImageSizes: facts.inputImageSizes,
    }).amount;
  } catch (error) {
    if (!(error instanceof UnpricedError)) throw error;
    if (metered) throw unpricedError(request.model, error);
    return 0;
  }
}

/** What a settle charges for `delivered` images at the price quoted at reserve time. */
export function chargeForDelivery(
  quote: PriceQuote | null,
  reservation: { size: string; quality: string | null; estimated: number; images_requested: number },
  facts: ReservationFacts,
  delivered: number,
  settlement: Settlement,
): Charge {
  const free: Charge = { amount: 0, unit: 'image', unitPrice: 0, inputTextTokens: null, inputImageTokens: null, outputTokens: null, detail: { unpriced: true } };
  if (delivered === 0) return { ...free, detail: { nothing_delivered: true } };
  if (!quote) return free;
  try {
    return computeCharge(quote, {
      size: reservation.size,
      quality: reservation.quality ?? undefined,
      images: delivered,
      promptCharacters: facts.promptCharacters,
      inputImageSizes: facts.inputImageSizes,
      usage: settlement.usage,
    });
  } catch (error) {
    if (!(error instanceof UnpricedError)) throw error;
    // Priced at reserve time, so this cannot happen with the same facts; charge the estimate pro rata.
    return { ...free, amount: Math.floor((reservation.estimated * delivered) / reservation.images_requested), detail: { pro_rata_of_estimate: true } };
  }
}

export function unpricedError(model: string, cause: unknown): GatewayError {
  const reason = cause instanceof Error ? `: ${cause.message}` : '';
  return new GatewayError(
    'permission_denied',
    `The model '${model}' has no price set${reason}, so keys with a quota cannot use it. Ask the operator to set one (PUT /admin/v1/prices/${model}).`,
    { param: 'model', cause },
  );
}

/** The same key reusing a request id: it must not ride on the first request's money. */
export function reservationConflictError(reservationId: string): GatewayError {
  return new GatewayError('conflict', `A request with id '${reservationId}' was already made with this key; send a new X-Request-Id for each request.`);
}

export function insufficientQuotaError(estimated: number, balance: number): GatewayError {
  return new GatewayError(
    'insufficient_quota',
    `You exceeded your current quota: this request needs up to $${creditsToUsd(estimated)} (${estimated} credits) and the key has $${creditsToUsd(balance)} (${balance} credits) left. Ask the operator to top it up.`,
  );
}
