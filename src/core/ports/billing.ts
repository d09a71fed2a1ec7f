// Quota and charging: reserve the estimated cost before calling upstream, settle to what was
// delivered, release in full on failure. Every call is keyed by a reservation (the key and the
// request or task id) and idempotent, so a retried settle after a crash never charges twice.
// A reservation is first held by the process that made it; if that process dies, a sweep (see
// BillingStore.sweepAbandoned) returns it, unless a task took it over (handOver) first.

import type { ImageUsage, PixelSize } from './image-model.js';

/** Names a reservation: ids are scoped to their key, so a client's X-Request-Id is only a label. */
export interface ReservationRef {
  keyId: string;
  /** The request id (sync) or task id (async); one reservation per id and key. */
  reservationId: string;
}

export interface ReservationRequest {
  /** The request id (sync) or task id (async); one reservation per id and key. */
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
  /** What the upstream reported charging the operator, in USD (see ImageCallResult.upstreamCostUsd); recorded, never charged. */
  upstreamCostUsd?: number;
  channel?: string;
  provider?: string;
}

export interface Billing {
  /**
   * Throws GatewayError `insufficient_quota` when the key's balance cannot cover the estimate, and
   * `conflict` when the key already used this reservation id. The reservation is held by this process.
   */
  reserve(request: ReservationRequest): Promise<void>;
  /**
   * Charges for what was delivered and returns the rest of the reservation. No-op if already settled
   * or released; a reservation the sweep returned is charged afresh (as far as the balance goes).
   */
  settle(reservation: ReservationRef, settlement: Settlement): Promise<void>;
  /** Returns the whole reservation (nothing was delivered). No-op if already settled or released. */
  release(reservation: ReservationRef): Promise<void>;
  /**
   * A durable task now holds the reservation (any process can resume it and settle): from here on
   * the sweep leaves it alone even when the process that made it dies.
   */
  handOver(reservation: ReservationRef): Promise<void>;
}

/** Billing for a deployment that meters nothing (every key unlimited, no usage rows). */
export const unmeteredBilling: Billing = {
  reserve: async () => undefined,
  settle: async () => undefined,
  release: async () => undefined,
  handOver: async () => undefined,
};
