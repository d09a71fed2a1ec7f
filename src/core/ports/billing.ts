// Quota and charging: reserve the estimated cost before calling upstream, settle to what was
// delivered, release in full on failure. Every call is keyed by a reservation id (the request or
// task id) and idempotent, so a retried settle after a crash never charges twice.

import type { ImageUsage, PixelSize } from './image-model.js';

export interface ReservationRequest {
  /** The request id (sync) or task id (async); one reservation per id. */
  reservationId: string;
  keyId: string;
  model: string;
  operation: 'generate' | 'edit' | 'variation';
  imagesRequested: number;
  size: string;
  quality?: string;
  /** Prompt length, for per-token estimates. */
  promptCharacters: number;
  inputImages: number;
  /** Sizes of the edit inputs and mask, for per-token estimates; absent = one tile each. */
  inputImageSizes?: PixelSize[];
}

export interface Settlement {
  imagesDelivered: number;
  usage?: ImageUsage;
  channel?: string;
  provider?: string;
}

export interface Billing {
  /** Throws GatewayError `insufficient_quota` when the key's balance cannot cover the estimate. */
  reserve(request: ReservationRequest): Promise<void>;
  /** Charges for what was delivered and returns the rest of the reservation. No-op if already settled or released. */
  settle(reservationId: string, settlement: Settlement): Promise<void>;
  /** Returns the whole reservation (nothing was delivered). No-op if already settled or released. */
  release(reservationId: string): Promise<void>;
}

/** Billing for a deployment that meters nothing (every key unlimited, no usage rows). */
export const unmeteredBilling: Billing = {
  reserve: async () => undefined,
  settle: async () => undefined,
  release: async () => undefined,
};
