// Several gateway processes sharing one database (a SQLite data dir today; one Postgres schema once
// that backend is configured through `databaseEnv`), optionally one Redis prefix and one S3 bucket,
// for the scale-out tests. Requests are spread over the replicas by the test itself (no balancer).

import { join } from 'node:path';
import { adminToken } from './billing-support.js';
import { startChild, stop, type ChildGateway } from './child-gateway.js';

export interface ReplicaOptions {
  /** Scratch folder for the data dir(s). */
  folder: string;
  configFile: string;
  count: number;
  /** Added to every replica's environment (Redis, S3, database URL …). */
  env?: Record<string, string>;
}

/** Every replica must sign and verify the same URLs and webhooks: one secret for all, as the README asks. */
export const sharedSecrets = {
  IMAGEGATE_SIGNING_SECRET: 'replica-signing-secret-0123456789abcdef',
  IMAGEGATE_WEBHOOK_SECRET: 'whsec_cmVwbGljYS13ZWJob29rLXNlY3JldA==',
  IMAGEGATE_ADMIN_TOKEN: adminToken,
};

export async function startReplicas(options: ReplicaOptions): Promise<ChildGateway[]> {
  const dataDir = join(options.folder, 'data');
  const env = { ...sharedSecrets, ...options.env };
  // The first applies the migrations and seeds the channels; the others, started together, find them done.
  const first = await startChild(dataDir, options.configFile, env);
  const others = await Promise.all(Array.from({ length: options.count - 1 }, () => startChild(dataDir, options.configFile, env)));
  return [first, ...others];
}

export async function stopReplicas(replicas: ChildGateway[]): Promise<void> {
  await Promise.all(replicas.map((replica) => stop(replica)));
}

/**
 * Polls `check` on each replica until it holds on all of them; answers how long that took after
 * `since`. Fails when `deadlineMs` passes first. Polls, never sleeps a fixed time.
 */
export async function untilHonoured(replicas: ChildGateway[], check: (replica: ChildGateway) => Promise<boolean>, since: number, deadlineMs: number): Promise<number> {
  const pending = new Set(replicas);
  const giveUp = since + deadlineMs + 2_000;
  while (pending.size > 0) {
    for (const replica of [...pending]) if (await check(replica)) pending.delete(replica);
    if (pending.size === 0) break;
    if (Date.now() > giveUp) throw new Error(`${pending.size} replica(s) still did not honour the change ${Date.now() - since} ms after it was made`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - since;
}
