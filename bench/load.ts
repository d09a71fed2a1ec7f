// Drives load with autocannon (as a library) and reduces its result to the figures the report uses.

import autocannon, { type AutocannonRequest } from 'autocannon';
import { Pool } from 'undici';

export interface LoadTarget {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
}

export interface LoadOptions {
  connections: number;
  durationSeconds: number;
  /** Requests per second from all connections together; unset = as fast as the server answers. */
  overallRate?: number;
  /** Seconds before an unanswered request counts as a timeout. */
  timeoutSeconds?: number;
  /** Sees every answer (status and body); autocannon only keeps bodies when this is set. */
  onResponse?: (status: number, body: string) => void;
}

export interface LoadResult {
  /** Successful (2xx) answers per second of the run. */
  requestsPerSecond: number;
  /** Latency of 2xx answers in milliseconds. */
  latencyMs: { p50: number; p99: number; max: number };
  succeeded: number;
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number;
  /** The status codes that were not 2xx, with counts, to explain failures. */
  failedStatuses: Record<string, number>;
  durationSeconds: number;
}

/**
 * runLoad, repeated for twice as long (up to 16 times the asked duration) while no request was
 * answered: on a heavily loaded machine a short phase of slow requests can end before the first
 * answer, and a figure must rest on answers, not on an empty phase.
 */
export async function runLoadAnswered(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  let result = await runLoad(target, options);
  for (let seconds = options.durationSeconds * 2; result.succeeded === 0 && seconds <= options.durationSeconds * 16; seconds *= 2) {
    result = await runLoad(target, { ...options, durationSeconds: seconds });
  }
  return result;
}

export async function runLoad(target: LoadTarget, options: LoadOptions): Promise<LoadResult> {
  const url = new URL(target.url);
  const request: AutocannonRequest = { method: target.method, path: url.pathname + url.search, headers: target.headers };
  if (target.body !== undefined) request.body = target.body;
  if (options.onResponse) {
    const onResponse = options.onResponse;
    request.onResponse = (status, body) => onResponse(status, body);
  }
  const result = await autocannon({
    url: url.origin,
    connections: options.connections,
    duration: options.durationSeconds,
    // autocannon notices the end of a run only when it samples (every second by default): short phases
    // would all last a whole second.
    sampleInt: 100,
    timeout: options.timeoutSeconds ?? 30,
    // Failed answers are counted, not mixed into the latency of good ones.
    excludeErrorStats: true,
    requests: [request],
    ...(options.overallRate === undefined ? {} : { overallRate: options.overallRate }),
  });
  const succeeded = result['2xx'];
  const failedStatuses: Record<string, number> = {};
  for (const [status, stats] of Object.entries(result.statusCodeStats ?? {})) {
    if (!status.startsWith('2')) failedStatuses[status] = stats.count;
  }
  // autocannon counts timeouts among its errors.
  if (result.errors > result.timeouts) failedStatuses['connection errors'] = result.errors - result.timeouts;
  if (result.timeouts > 0) failedStatuses['timeouts'] = result.timeouts;
  const elapsed = result.duration > 0 ? result.duration : options.durationSeconds;
  return {
    requestsPerSecond: succeeded / elapsed,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99, max: result.latency.max },
    succeeded,
    failed: result.non2xx + result.errors,
    failedStatuses,
    durationSeconds: elapsed,
  };
}

/**
 * `connections` clients, each sending its next request as soon as the last is answered, their first
 * requests spread over `spreadMs`: arrivals stay spread as independent clients' are, instead of
 * autocannon's all-at-once waves, while every connection keeps one request in flight.
 */
export async function runSpread(target: LoadTarget, options: { connections: number; durationSeconds: number; spreadMs: number }): Promise<LoadResult> {
  const url = new URL(target.url);
  const pool = new Pool(url.origin, { connections: options.connections, keepAliveTimeout: 60_000 });
  const latencies: number[] = [];
  const failedStatuses: Record<string, number> = {};
  let failed = 0;
  const started = performance.now();
  const deadline = started + options.durationSeconds * 1000;
  const client = async (index: number) => {
    await new Promise((resolve) => setTimeout(resolve, (options.spreadMs * index) / options.connections));
    while (performance.now() < deadline) {
      const sentAt = performance.now();
      try {
        const answer = await pool.request({ path: url.pathname + url.search, method: target.method, headers: target.headers, body: target.body ?? null });
        await answer.body.dump();
        if (answer.statusCode >= 200 && answer.statusCode < 300) latencies.push(performance.now() - sentAt);
        else {
          failed += 1;
          failedStatuses[String(answer.statusCode)] = (failedStatuses[String(answer.statusCode)] ?? 0) + 1;
        }
      } catch {
        failed += 1;
        failedStatuses['connection errors'] = (failedStatuses['connection errors'] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.connections }, (_, index) => client(index)));
  } finally {
    await pool.close();
  }
  return summarize({ latencies, failed, failedStatuses, elapsedSeconds: (performance.now() - started) / 1000 });
}

/** What one open-loop run saw: raw latencies, so runs taken in turns can be merged before percentiles. */
interface OpenLoopSamples {
  latencies: number[];
  failed: number;
  failedStatuses: Record<string, number>;
  elapsedSeconds: number;
}

/**
 * Open loops on several targets at the same rate, taken in turns: `turns` rounds in which each target
 * gets `durationSeconds / turns` in order, round k of every target with the same seeded arrivals; each
 * target's figures come from all of its turns together. A stall of the whole machine (another
 * process, the hypervisor: on this 2-CPU machine the direct p99 alone ranged from 7 to 65 ms between
 * runs of one scenario) then falls on either side by chance instead of spoiling one side's only phase.
 * Each turn starts with `leadInSeconds` of the same load whose latencies are not kept: a side that
 * was idle through the other's turn resumes from a cold start (new connections from the load
 * generator; in imagegate, V8's idle-time collection and an emptied WAL file), which says nothing of
 * its latency under steady load and would otherwise come back once per turn.
 */
export async function runOpenLoopInTurns(targets: LoadTarget[], options: { rate: number; durationSeconds: number; turns: number; leadInSeconds: number }): Promise<LoadResult[]> {
  const merged: OpenLoopSamples[] = targets.map(() => ({ latencies: [], failed: 0, failedStatuses: {}, elapsedSeconds: 0 }));
  const seconds = options.durationSeconds / options.turns;
  for (let turn = 0; turn < options.turns; turn += 1) {
    for (const [index, target] of targets.entries()) {
      const samples = await openLoopSamples(target, { rate: options.rate, durationSeconds: seconds, seed: 0x9e3779b9 + turn, leadInSeconds: options.leadInSeconds });
      const into = merged[index]!;
      for (const latency of samples.latencies) into.latencies.push(latency);
      into.failed += samples.failed;
      for (const [status, count] of Object.entries(samples.failedStatuses)) into.failedStatuses[status] = (into.failedStatuses[status] ?? 0) + count;
      into.elapsedSeconds += samples.elapsedSeconds;
    }
  }
  return merged.map(summarize);
}

/**
 * Open-loop load: requests arrive at random (a Poisson process of `rate` per second) whether or not
 * earlier ones were answered, as independent clients' do. Latency runs from each request's scheduled
 * arrival, so time a request spent waiting behind a slow one counts (a closed loop, or autocannon's
 * fixed rate, would hide it: they send late instead). Seeded, so every side sees the same arrivals.
 */
async function openLoopSamples(target: LoadTarget, options: { rate: number; durationSeconds: number; seed?: number; leadInSeconds?: number }): Promise<OpenLoopSamples> {
  const url = new URL(target.url);
  // Connections enough for every request in flight at once; an open loop never waits for one.
  const pool = new Pool(url.origin, { connections: 512, keepAliveTimeout: 60_000, pipelining: 1 });
  let state = options.seed ?? 0x9e3779b9;
  const random = (): number => {
    // xorshift32: deterministic and fast; the gaps only need to be exponential, not secret.
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) + 1) / 4_294_967_297;
  };
  const latencies: number[] = [];
  const failedStatuses: Record<string, number> = {};
  let failed = 0;
  const inFlight: Array<Promise<void>> = [];
  const started = performance.now();
  // Arrivals of the lead-in go out like the rest but their latency is not kept (failures still count).
  const measuredFrom = started + (options.leadInSeconds ?? 0) * 1000;
  const end = measuredFrom + options.durationSeconds * 1000;
  let nextArrival = started;
  const send = (scheduledAt: number): Promise<void> =>
    pool
      .request({ path: url.pathname + url.search, method: target.method, headers: target.headers, body: target.body ?? null })
      .then(async (answer) => {
        await answer.body.dump();
        if (answer.statusCode >= 200 && answer.statusCode < 300) {
          if (scheduledAt >= measuredFrom) latencies.push(performance.now() - scheduledAt);
        } else {
          failed += 1;
          failedStatuses[String(answer.statusCode)] = (failedStatuses[String(answer.statusCode)] ?? 0) + 1;
        }
      })
      .catch(() => {
        failed += 1;
        failedStatuses['connection errors'] = (failedStatuses['connection errors'] ?? 0) + 1;
      });
  try {
    while (nextArrival < end) {
      const now = performance.now();
      // Every arrival that is due goes out now, stamped with when it was due.
      while (nextArrival <= now && nextArrival < end) {
        inFlight.push(send(nextArrival));
        nextArrival += (-Math.log(random()) / options.rate) * 1000;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(nextArrival, end) - performance.now())));
    }
    await Promise.all(inFlight);
  } finally {
    await pool.close();
  }
  return { latencies, failed, failedStatuses, elapsedSeconds: (performance.now() - measuredFrom) / 1000 };
}

function summarize(samples: OpenLoopSamples): LoadResult {
  const sorted = samples.latencies.sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
  return {
    requestsPerSecond: sorted.length / samples.elapsedSeconds,
    latencyMs: { p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? 0 },
    succeeded: sorted.length,
    failed: samples.failed,
    failedStatuses: samples.failedStatuses,
    durationSeconds: samples.elapsedSeconds,
  };
}
