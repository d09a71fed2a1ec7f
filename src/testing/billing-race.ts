// What the cross-process billing fixtures (SQLite's billing-race, Postgres' race-worker) run in each
// child process: one-image requests reserved and settled all at once on one key, counted.

import type { Billing } from '../core/ports/billing.js';

export interface BillingRaceReport {
  charged: number;
  refused: number;
  failures: string[];
}

/** Reserves and settles `attempts` one-image dall-e-2 requests at once (ids `<owner>-<n>`); refusals for quota are counted, anything else is a failure. */
export async function raceReservations(billing: Billing, keyId: string, attempts: number, owner: string): Promise<BillingRaceReport> {
  const report: BillingRaceReport = { charged: 0, refused: 0, failures: [] };
  // Every attempt in flight at once within this process too: the lock has to hold across processes and within one.
  await Promise.all(
    Array.from({ length: attempts }, async (_, index) => {
      const reservationId = `${owner}-${index}`;
      try {
        await billing.reserve({ reservationId, keyId, model: 'dall-e-2', operation: 'generate', imagesRequested: 1, size: '256x256', quality: 'standard', promptCharacters: 10, inputImages: 0 });
      } catch (error) {
        if ((error as { code?: string }).code === 'insufficient_quota') report.refused += 1;
        else report.failures.push(String(error));
        return;
      }
      await billing.settle({ keyId, reservationId }, { imagesDelivered: 1 });
      report.charged += 1;
    }),
  );
  return report;
}
