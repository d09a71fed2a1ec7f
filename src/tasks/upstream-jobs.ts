// How a task records its upstream jobs: a request split into several upstream calls (n above the
// provider's maxImagesPerCall) has one job per call, so the task keeps them by call index.

import type { UpstreamJobRef } from '../core/ports/image-model.js';

/** Marks the wrapper so a single job recorded by another writer is still understood. */
const jobsKind = 'calls';

/** One UpstreamJobRef holding every call's job: `data.calls[i]` is call i's job or null. */
export function packJobs(jobs: ReadonlyArray<UpstreamJobRef | undefined>): UpstreamJobRef | null {
  const first = jobs.find((job): job is UpstreamJobRef => job !== undefined);
  if (!first) return null;
  const packed: UpstreamJobRef = { provider: first.provider, data: { kind: jobsKind, calls: Array.from(jobs, (job) => job ?? null) } };
  if (first.channel !== undefined) packed.channel = first.channel;
  if (first.channelKey !== undefined) packed.channelKey = first.channelKey;
  return packed;
}

/** The jobs by call index; a bare job (not packed) is call 0's. */
export function unpackJobs(recorded: UpstreamJobRef | null): Array<UpstreamJobRef | undefined> {
  if (recorded === null) return [];
  const calls = recorded.data.calls;
  if (recorded.data.kind !== jobsKind || !Array.isArray(calls)) return [recorded];
  return calls.map((job: unknown) => (isJob(job) ? job : undefined));
}

function isJob(value: unknown): value is UpstreamJobRef {
  if (typeof value !== 'object' || value === null) return false;
  const job = value as Partial<UpstreamJobRef>;
  return typeof job.provider === 'string' && typeof job.data === 'object' && job.data !== null;
}
