// Scenario 4: asynchronous tasks against a fast upstream, on the embedded SQLite store and — in the
// same run, when the run has a PostgreSQL server — on PostgreSQL (a second imagegate whose
// `database.url` is the run's fresh schema). Clients submit with `?async=true` (202 and a task) and
// follow the tasks with `GET /v1/images/tasks/{id}` until they are final: tasks completed per second,
// from the first submission to the last completion.
//
// The backlog is bounded by the clients, not by the gateway's queue limit: at most `window` tasks are
// unfinished at once (half of the default `tasks.max_queued`), so submissions are not answered 429 and
// retried, and the figure is the task machinery's rather than the cost of refusing a retry loop. Tasks
// are followed oldest first (they finish roughly in order), a few at a time, so polling stays light.

import { Pool } from 'undici';
import { runLoad } from '../load.js';
import { cpuSecondsOf, startGatewayProcess, upstreamApiKey, type GatewayProcess } from '../processes.js';
import { check, jsonPost, phaseSeconds, profiled, sideFigures, withCpuCost, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';
import { benchChannels } from './channels.js';
import { send } from './verify.js';

const body = { model: 'gpt-image-1-mini', prompt: 'a lighthouse at dusk', size: '1024x1024' };
const clients = 32;
/** Unfinished tasks at most (the default tasks.max_queued is 1,000 per key). */
const window = 500;
/** Concurrent pollers following the oldest unfinished tasks. */
const followers = 4;
const finalStatuses = new Set(['succeeded', 'failed', 'canceled']);
/** How long the harness waits for submitted tasks to finish before it counts the rest as failed. */
const drainTimeoutMs = 120_000;

export interface TaskBatch {
  submitted: number;
  succeeded: number;
  failed: number;
  /** 429 answers (queue full) that were retried. */
  queueFull: number;
  polls: number;
  /** What the failures were: `submit HTTP <status>` or `task <status>: <error code>`, counted. */
  failures: Record<string, number>;
  elapsedSeconds: number;
  /** Latency of the submissions (202 answers), in milliseconds. */
  submitLatenciesMs: number[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function readJson(response: { statusCode: number; body: { text(): Promise<string> } }): Promise<{ status: number; body: Record<string, unknown> }> {
  const text = await response.body.text();
  try {
    return { status: response.statusCode, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: response.statusCode, body: { unparsed: text.slice(0, 200) } };
  }
}

/** Submits for `seconds` (keeping at most `window` tasks unfinished), then waits for every submitted task to be final. */
export async function runTaskBatch(origin: string, apiKey: string, seconds: number): Promise<TaskBatch> {
  const pool = new Pool(origin, { connections: clients + followers + 2 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  const payload = JSON.stringify(body);
  const batch: TaskBatch = { submitted: 0, succeeded: 0, failed: 0, queueFull: 0, polls: 0, failures: {}, elapsedSeconds: 0, submitLatenciesMs: [] };
  /** Unfinished tasks in submission order (a Set keeps insertion order), plus those being submitted. */
  const pending = new Set<string>();
  let inFlightSubmissions = 0;
  const beingPolled = new Set<string>();
  /** Submitters waiting for a task to finish (the window is full). */
  const slotWaiters: Array<() => void> = [];
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let lastFinal = started;
  let submitting = true;
  /** Set when the submitting ends: unfinished tasks are waited for until then. */
  let drainEnds = Infinity;

  const countFailure = (what: string) => {
    batch.failed += 1;
    batch.failures[what] = (batch.failures[what] ?? 0) + 1;
  };
  const statusOf = async (id: string): Promise<{ status: string; code?: unknown } | undefined> => {
    const polled = await readJson(await pool.request({ path: `/v1/images/tasks/${encodeURIComponent(id)}`, method: 'GET', headers }));
    batch.polls += 1;
    const status = polled.body['status'];
    if (polled.status !== 200) return { status: `poll HTTP ${polled.status}` };
    const error = polled.body['error'] as { code?: unknown } | null | undefined;
    return typeof status === 'string' ? { status, code: error?.code } : undefined;
  };
  const settle = (id: string, final: { status: string; code?: unknown }) => {
    pending.delete(id);
    if (final.status === 'succeeded') batch.succeeded += 1;
    else countFailure(`task ${final.status}${final.code === undefined ? '' : `: ${String(final.code)}`}`);
    lastFinal = performance.now();
    for (const wake of slotWaiters.splice(0)) wake();
  };
  const waitForSlot = () => new Promise<void>((resolve) => slotWaiters.push(resolve));

  const submitter = async () => {
    while (performance.now() < deadline) {
      if (pending.size + inFlightSubmissions >= window) {
        await Promise.race([waitForSlot(), sleep(50)]);
        continue;
      }
      inFlightSubmissions += 1;
      const sentAt = performance.now();
      const answer = await readJson(await pool.request({ path: '/v1/images/generations?async=true', method: 'POST', headers, body: payload })).finally(() => {
        inFlightSubmissions -= 1;
      });
      const id = answer.body['id'];
      if (answer.status === 202 && typeof id === 'string') {
        batch.submitted += 1;
        batch.submitLatenciesMs.push(performance.now() - sentAt);
        pending.add(id);
      } else if (answer.status === 429) {
        // Not expected below the queue limit; counted, and retried after a pause as a client would.
        batch.queueFull += 1;
        await sleep(50);
      } else {
        countFailure(`submit HTTP ${answer.status}${typeof (answer.body['error'] as { code?: unknown } | undefined)?.code === 'string' ? ` ${(answer.body['error'] as { code: string }).code}` : ''}`);
      }
    }
  };
  /** Follows the oldest unfinished task no other follower is polling; pauses while that one is still running. */
  const follower = async () => {
    while ((submitting || pending.size > 0) && performance.now() < drainEnds) {
      let oldest: string | undefined;
      for (const id of pending) {
        if (!beingPolled.has(id)) {
          oldest = id;
          break;
        }
      }
      if (oldest === undefined) {
        await sleep(5);
        continue;
      }
      beingPolled.add(oldest);
      const final = await statusOf(oldest).finally(() => beingPolled.delete(oldest));
      if (final !== undefined && (finalStatuses.has(final.status) || final.status.startsWith('poll HTTP'))) settle(oldest, final);
      // The oldest is still running: look again a little later rather than poll it in a tight loop.
      else await sleep(20);
    }
  };
  try {
    const following = Promise.all(Array.from({ length: followers }, follower));
    await Promise.all(Array.from({ length: clients }, submitter));
    submitting = false;
    drainEnds = performance.now() + drainTimeoutMs;
    await following;
    for (let index = 0; index < pending.size; index += 1) countFailure('not final after the drain timeout');
  } finally {
    batch.elapsedSeconds = (lastFinal - started) / 1000;
    await pool.close();
  }
  return batch;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * fraction))] ?? 0;
}

/** One task end to end, checked: the first answer is a 202 with a task, which then succeeds. Undefined: no async API in this build. */
async function checkOneTask(gateway: GatewayProcess): Promise<string | undefined> {
  const target = jsonPost(`${gateway.url}/v1/images/generations?async=true`, body, gateway.apiKey);
  const first = await send(target);
  const firstId = first.body['id'];
  if (first.status !== 202 || first.body['object'] !== 'image.task' || typeof firstId !== 'string') {
    return first.status === 200 ? 'answered synchronously (HTTP 200) without a task' : `answered HTTP ${first.status}`;
  }
  const deadline = Date.now() + 30_000;
  for (;;) {
    const task = await send({ url: `${gateway.url}/v1/images/tasks/${firstId}`, method: 'GET', headers: target.headers });
    const status = task.body['status'];
    if (status === 'succeeded') return undefined;
    if (task.status !== 200 || status === 'failed' || status === 'canceled' || Date.now() > deadline) {
      throw new Error(`the first task did not succeed: HTTP ${task.status} ${JSON.stringify(task.body).slice(0, 300)}`);
    }
    await sleep(20);
  }
}

interface BackendMeasurement {
  batch: TaskBatch;
  tasksPerSecond: number;
  cpuMsPerTask: number;
}

/** A warm-up batch, then the measured one (CPU-profiled when the run asks). */
async function measureTasks(context: ScenarioContext, gateway: GatewayProcess, label: string, profileName: string): Promise<BackendMeasurement> {
  const total = context.durationSeconds;
  context.log(`tasks through imagegate on ${label}, ${clients} submitting clients, ${phaseSeconds(total, 0.35)} s, then until all are final`);
  await runTaskBatch(gateway.url, gateway.apiKey, phaseSeconds(total, 0.1));
  await gateway.resetMeasurements();
  const cpuBefore = await cpuSecondsOf(gateway.pid);
  const batch = await profiled(context, profileName, () => runTaskBatch(gateway.url, gateway.apiKey, phaseSeconds(total, 0.35)), gateway);
  const cpuSeconds = (await cpuSecondsOf(gateway.pid)) - cpuBefore;
  return {
    batch,
    tasksPerSecond: batch.elapsedSeconds > 0 ? batch.succeeded / batch.elapsedSeconds : 0,
    cpuMsPerTask: batch.succeeded > 0 ? (cpuSeconds * 1000) / batch.succeeded : 0,
  };
}

const batchNote = (label: string, batch: TaskBatch) =>
  `${label}: ${batch.submitted} tasks submitted (${batch.queueFull} met a full queue), ${batch.polls} polls${batch.failed > 0 ? `, ${batch.failed} failed or did not finish ${JSON.stringify(batch.failures)}` : ''}`;

/** The same batch through a second imagegate on the run's PostgreSQL schema. */
async function measureOnPostgres(context: ScenarioContext, databaseUrl: string): Promise<BackendMeasurement | { unavailable: string }> {
  const gateway = await startGatewayProcess({ upstreamOrigin: context.upstream.origin, channels: benchChannels, databaseUrl, ...context.gatewayChoice });
  try {
    const missing = await checkOneTask(gateway);
    if (missing !== undefined) return { unavailable: `on PostgreSQL, POST …?async=true ${missing}` };
    return await measureTasks(context, gateway, 'PostgreSQL', '4-postgres');
  } catch (error) {
    const logged = gateway.recentErrors();
    return { unavailable: `on PostgreSQL: ${error instanceof Error ? error.message : String(error)}${logged.length > 0 ? `; imagegate logged: ${logged.join(' ')}` : ''}` };
  } finally {
    await gateway.close();
  }
}

export const asyncTasksScenario: Scenario = {
  id: 4,
  title: 'async tasks, submit and complete',
  connections: clients,
  async run(context) {
    const base: ScenarioResult = { id: this.id, title: this.title, connections: this.connections, status: 'measured', targets: [] };

    // The async API may not exist in this build: say so instead of failing the whole run.
    const missing = await checkOneTask(context.gateway);
    if (missing !== undefined) {
      return {
        ...base,
        status: 'not available',
        note: `the async task API is not available in this build: POST /v1/images/generations?async=true ${missing}`,
        targets: [check('SQLite ≥ 1000 tasks/s', undefined, () => false)],
      };
    }

    const total = context.durationSeconds;
    const direct = jsonPost(`${context.upstream.origin}/small-b64/v1/images/generations`, body, upstreamApiKey);
    context.log(`direct upstream, ${clients} connections, ${phaseSeconds(total, 0.15)} s`);
    await runLoad(direct, { connections: clients, durationSeconds: phaseSeconds(total, 0.05) });
    const { result: directResult, cpuMsPerRequest: upstreamCpu } = await withCpuCost(context.upstream.pid, () =>
      runLoad(direct, { connections: clients, durationSeconds: phaseSeconds(total, 0.15) }),
    );

    const sqlite = await measureTasks(context, context.gateway, 'SQLite', '4');
    const peakRssBytes = await context.gateway.peakRssBytes();
    const probe = await context.gateway.probe();

    let postgres: BackendMeasurement | { unavailable: string } | undefined;
    if (context.postgres !== undefined) {
      postgres = 'databaseUrl' in context.postgres ? await measureOnPostgres(context, context.postgres.databaseUrl) : context.postgres;
    }

    const sorted = sqlite.batch.submitLatenciesMs.sort((a, b) => a - b);
    const notes = [`${batchNote('SQLite', sqlite.batch)}; latency is the submission's`];
    if (postgres !== undefined) {
      notes.push('batch' in postgres
        ? `${batchNote('PostgreSQL', postgres.batch)}; ${postgres.tasksPerSecond.toFixed(0)} tasks/s at ${postgres.cpuMsPerTask.toFixed(2)} ms CPU per task`
        : `PostgreSQL not measured: ${postgres.unavailable}`);
    }
    const targets = [check('SQLite ≥ 1000 tasks/s', sqlite.tasksPerSecond, (rate) => rate >= 1000)];
    if (postgres !== undefined) targets.push(check('PostgreSQL ≥ 1000 tasks/s', 'batch' in postgres ? postgres.tasksPerSecond : undefined, (rate) => rate >= 1000));
    return {
      ...base,
      direct: sideFigures(directResult),
      gateway: {
        requestsPerSecond: sqlite.tasksPerSecond,
        latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
        succeeded: sqlite.batch.succeeded,
        failed: sqlite.batch.failed,
        failedStatuses: {},
      },
      ...(directResult.requestsPerSecond > 0 ? { ratio: sqlite.tasksPerSecond / directResult.requestsPerSecond } : {}),
      tasksPerSecond: sqlite.tasksPerSecond,
      ...(postgres === undefined
        ? {}
        : {
            postgres:
              'batch' in postgres
                ? { tasksPerSecond: postgres.tasksPerSecond, cpuMsPerTask: postgres.cpuMsPerTask, succeeded: postgres.batch.succeeded, failed: postgres.batch.failed }
                : postgres,
          }),
      cpuMsPerRequest: { upstream: upstreamCpu, gateway: sqlite.cpuMsPerTask },
      peakRssBytes,
      eventLoopDelayMs: { p50: probe.eventLoopDelayMs.p50, p99: probe.eventLoopDelayMs.p99, max: probe.eventLoopDelayMs.max },
      note: notes.join('; '),
      targets,
    };
  },
};
