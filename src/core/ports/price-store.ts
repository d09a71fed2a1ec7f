// Where operators' price changes are kept: JSON specs in catalog/prices.yaml's own shape, one per
// model and one per price group. The rules (validation, applying them to the price book) live in
// src/billing/price-overrides.ts; a store only keeps the rows.

export interface StoredPriceOverrides {
  /** Model → price spec (already validated when it was written). */
  models: Record<string, unknown>;
  /** Price group name → group spec. */
  groups: Record<string, unknown>;
}

export interface PriceStore {
  load(): Promise<StoredPriceOverrides>;
  /** Inserts or replaces one model's price. */
  putModelPrice(model: string, spec: unknown, updatedAt: number): Promise<void>;
  /** False when the model had no stored price. */
  deleteModelPrice(model: string): Promise<boolean>;
  putGroup(name: string, spec: unknown, updatedAt: number): Promise<void>;
  deleteGroup(name: string): Promise<boolean>;
}
