// How fast this machine runs JavaScript at the moment a run starts and ends: a fixed loop, timed in
// the harness's own process. On a shared virtual machine the host's other tenants can slow every
// process here by half without any steal time showing (a busy sibling of a virtual CPU) — CPU time per
// request included, which is otherwise the steadier figure. Session 13 saw the same loop take 601 ms
// and 942 ms a minute apart, and full runs twice as slow as quiet ones; the report prints the loop's
// times beside the load average so that a contended run can be told from a quiet one.

/** Iterations of the fixed loop: 0.2–0.3 s on this machine kind. */
const iterations = 100_000_000;
const timings = 3;

function timeLoopMs(): number {
  const started = process.hrtime.bigint();
  let sum = 0;
  for (let index = 0; index < iterations; index += 1) sum += index % 7;
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  // The sum is used, so the loop cannot be optimised away.
  if (sum < 0) throw new Error('unreachable');
  return elapsedMs;
}

export interface HostSpeed {
  /** The fastest and slowest of three timings of the fixed loop, in milliseconds. */
  fastestMs: number;
  slowestMs: number;
}

/** Times the fixed loop three times, after a run that compiles it (about a second in all). */
export function measureHostSpeed(): HostSpeed {
  // Once untimed: the first run also compiles the loop.
  timeLoopMs();
  const measured = Array.from({ length: timings }, timeLoopMs);
  return { fastestMs: Math.min(...measured), slowestMs: Math.max(...measured) };
}

/** "fastest–slowest ms", as the report and bench/ab.ts print it. */
export const formatHostSpeed = ({ fastestMs, slowestMs }: HostSpeed): string => `${Math.round(fastestMs)}–${Math.round(slowestMs)} ms`;
