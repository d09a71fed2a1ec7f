// Crash recovery for billing, run by every gateway process: it keeps this process's lease alive
// (a heartbeat every third of the lease) and, every lease period, returns the reservations that
// processes which stopped heartbeating still hold. A request killed with its process (kill -9, OOM,
// power) can never settle or release its reservation itself; without this sweep its credits would
// stay held forever. Several processes on one database may sweep at once: the store returns each
// reservation once.

import type { Logger } from 'pino';
import type { BillingStore } from '../core/ports/billing-store.js';

export interface ReservationUpkeepOptions {
  billing: BillingStore;
  /** How long this process counts as alive after a heartbeat. */
  leaseMs: number;
  /**
   * The longest a synchronous request can hold its reservation: the synchronous limit (after which
   * the request becomes a task, which takes the reservation over) plus a lease period of slack.
   */
  heldLongerThanMs: number;
  logger: Pick<Logger, 'info' | 'error'>;
}

export interface ReservationUpkeep {
  /** Stops the timers and ends the lease; call once no request of this process is in flight. */
  stop(): Promise<void>;
}

/** Takes the lease (before the process serves anything), sweeps once, then keeps both going. */
export async function startReservationUpkeep(options: ReservationUpkeepOptions): Promise<ReservationUpkeep> {
  const { billing, leaseMs, logger } = options;
  await billing.renewProcessLease(leaseMs);
  const sweep = async (): Promise<void> => {
    try {
      const swept = await billing.sweepAbandoned({ heldLongerThanMs: options.heldLongerThanMs });
      if (swept > 0) logger.info({ swept }, 'returned reservations held by requests of processes that stopped');
    } catch (error) {
      logger.error({ err: error }, 'sweeping abandoned reservations failed');
    }
  };
  await sweep();
  const heartbeat = setInterval(() => {
    billing.renewProcessLease(leaseMs).catch((error: unknown) => logger.error({ err: error }, 'renewing the process lease failed'));
  }, Math.max(100, Math.floor(leaseMs / 3)));
  const sweeper = setInterval(() => void sweep(), leaseMs);
  // Neither timer may keep a process alive that has nothing else to do.
  heartbeat.unref();
  sweeper.unref();
  return {
    async stop() {
      clearInterval(heartbeat);
      clearInterval(sweeper);
      await billing.endProcessLease().catch((error: unknown) => logger.error({ err: error }, 'ending the process lease failed'));
    },
  };
}
