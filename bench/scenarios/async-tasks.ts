// Scenario 4: asynchronous tasks against a fast upstream. Clients submit with `?async=true` (202 and a
// task) as fast as imagegate accepts them (a full queue answers 429 and they retry), then every task
// is followed with `GET /v1/images/tasks/{id}` until it is final: tasks completed per second, from the
// first submission to the last completion, on the embedded store. Polling stays light (one task at a
// time while submitting), so the figure is the task machinery's, not the poll endpoint's.

import { Pool } from 'undici';
import { runLoad } from '../load.js';
import { cpuSecondsOf, upstreamApiKey } from '../processes.js';
import { check, jsonPost, phaseSeconds, profiled, sideFigures, withCpuCost, type Scenario, type ScenarioResult } from '../scenario.js';
import { send } from './verify.js';

const body = { model: 'gpt-image-1-mini', prompt: 'a lighthouse at dusk', size: '1024x1024' };
const clients = 32;
const finalStatuses = new Set(['succeeded', 'failed', 'canceled']);
/** How long the harness waits for submitted tasks to finish before it counts the rest as failed. */
const drainTimeoutMs = 120_000;

interface TaskBatch {
  submitted: number;
  succeeded: number;
  failed: number;
  /** 429 answers (queue full) that were retried. */
  queueFull: number;
  polls: number;
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

/** Submits for `seconds`, then waits for every submitted task to be final. */
async function runTaskBatch(origin: string, apiKey: string, seconds: number): Promise<TaskBatch> {
  const pool = new Pool(origin, { connections: clients + 4 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  const payload = JSON.stringify(body);
  const batch: TaskBatch = { submitted: 0, succeeded: 0, failed: 0, queueFull: 0, polls: 0, elapsedSeconds: 0, submitLatenciesMs: [] };
  const pending = new Set<string>();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let lastFinal = started;

  const statusOf = async (id: string): Promise<string | undefined> => {
    const polled = await readJson(await pool.request({ path: `/v1/images/tasks/${encodeURIComponent(id)}`, method: 'GET', headers }));
    batch.polls += 1;
    const status = polled.body['status'];
    if (polled.status !== 200) return 'failed';
    return typeof status === 'string' ? status : undefined;
  };
  const settle = (id: string, status: string) => {
    pending.delete(id);
    if (status === 'succeeded') batch.succeeded += 1;
    else batch.failed += 1;
    lastFinal = performance.now();
  };

  const submitter = async () => {
    while (performance.now() < deadline) {
      const sentAt = performance.now();
      const answer = await readJson(await pool.request({ path: '/v1/images/generations?async=true', method: 'POST', headers, body: payload }));
      const id = answer.body['id'];
      if (answer.status === 202 && typeof id === 'string') {
        batch.submitted += 1;
        batch.submitLatenciesMs.push(performance.now() - sentAt);
        pending.add(id);
      } else if (answer.status === 429) {
        // The queue is full: wait a little (less than the retry-after a real client honours, to keep it full).
        batch.queueFull += 1;
        await sleep(50);
      } else {
        batch.failed += 1;
      }
    }
  };
  // While submitting, one task at a time is followed, so finished tasks leave the pending set.
  let submitting = true;
  const follower = async () => {
    while (submitting) {
      const oldest = pending.values().next().value;
      if (oldest === undefined) {
        await sleep(10);
        continue;
      }
      const status = await statusOf(oldest);
      if (status !== undefined && finalStatuses.has(status)) settle(oldest, status);
      else await sleep(10);
    }
  };
  try {
    const following = follower();
    await Promise.all(Array.from({ length: clients }, submitter));
    submitting = false;
    await following;
    // Then every task still pending, oldest first, until all are final.
    const drainDeadline = performance.now() + drainTimeoutMs;
    while (pending.size > 0 && performance.now() < drainDeadline) {
      const ids = [...pending];
      let next = 0;
      const sweeper = async () => {
        for (let index = next++; index < ids.length; index = next++) {
          const id = ids[index];
          if (id === undefined) continue;
          const status = await statusOf(id);
          if (status !== undefined && finalStatuses.has(status)) settle(id, status);
        }
      };
      await Promise.all(Array.from({ length: 8 }, sweeper));
      if (pending.size > 0) await sleep(20);
    }
    batch.failed += pending.size;
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

export const asyncTasksScenario: Scenario = {
  id: 4,
  title: 'async tasks, submit and complete',
  connections: clients,
  async run(context) {
    const base: ScenarioResult = { id: this.id, title: this.title, connections: this.connections, status: 'measured', targets: [] };
    const gatewayTarget = jsonPost(`${context.gateway.url}/v1/images/generations?async=true`, body, context.gateway.apiKey);

    // The async API may not exist in this build: say so instead of failing the whole run.
    const first = await send(gatewayTarget);
    const firstId = first.body['id'];
    if (first.status !== 202 || first.body['object'] !== 'image.task' || typeof firstId !== 'string') {
      const what = first.status === 200 ? 'answered synchronously (HTTP 200) without a task' : `answered HTTP ${first.status}`;
      return {
        ...base,
        status: 'not available',
        note: `the async task API is not available in this build: POST /v1/images/generations?async=true ${what}`,
        targets: [check('≥ 1000 tasks/s', undefined, () => false)],
      };
    }
    const deadline = Date.now() + 30_000;
    for (;;) {
      const task = await send({ url: `${context.gateway.url}/v1/images/tasks/${firstId}`, method: 'GET', headers: gatewayTarget.headers });
      const status = task.body['status'];
      if (status === 'succeeded') break;
      if (task.status !== 200 || status === 'failed' || status === 'canceled' || Date.now() > deadline) {
        throw new Error(`the first task did not succeed: HTTP ${task.status} ${JSON.stringify(task.body).slice(0, 300)}`);
      }
      await sleep(20);
    }

    const total = context.durationSeconds;
    const direct = jsonPost(`${context.upstream.origin}/small-b64/v1/images/generations`, body, upstreamApiKey);
    context.log(`direct upstream, ${clients} connections, ${phaseSeconds(total, 0.3)} s`);
    await runLoad(direct, { connections: clients, durationSeconds: phaseSeconds(total, 0.1) });
    const { result: directResult, cpuMsPerRequest: upstreamCpu } = await withCpuCost(context.upstream.pid, () =>
      runLoad(direct, { connections: clients, durationSeconds: phaseSeconds(total, 0.3) }),
    );

    context.log(`tasks through imagegate, ${clients} submitting clients, ${phaseSeconds(total, 0.5)} s, then until all are final`);
    await runTaskBatch(context.gateway.url, context.gateway.apiKey, phaseSeconds(total, 0.1));
    await context.gateway.resetMeasurements();
    const cpuBefore = await cpuSecondsOf(context.gateway.pid);
    const batch = await profiled(context, this.id, () => runTaskBatch(context.gateway.url, context.gateway.apiKey, phaseSeconds(total, 0.5)));
    const gatewayCpuSeconds = (await cpuSecondsOf(context.gateway.pid)) - cpuBefore;
    const peakRssBytes = await context.gateway.peakRssBytes();
    const probe = await context.gateway.probe();

    const tasksPerSecond = batch.elapsedSeconds > 0 ? batch.succeeded / batch.elapsedSeconds : 0;
    const sorted = batch.submitLatenciesMs.sort((a, b) => a - b);
    const notes = [
      `${batch.submitted} tasks submitted (${batch.queueFull} submissions met a full queue and were retried), ${batch.polls} polls; latency is the submission's`,
    ];
    if (batch.failed > 0) notes.push(`${batch.failed} tasks failed or did not finish`);
    return {
      ...base,
      direct: sideFigures(directResult),
      gateway: {
        requestsPerSecond: tasksPerSecond,
        latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
        succeeded: batch.succeeded,
        failed: batch.failed,
        failedStatuses: {},
      },
      ...(directResult.requestsPerSecond > 0 ? { ratio: tasksPerSecond / directResult.requestsPerSecond } : {}),
      tasksPerSecond,
      cpuMsPerRequest: { upstream: upstreamCpu, gateway: batch.succeeded > 0 ? (gatewayCpuSeconds * 1000) / batch.succeeded : 0 },
      peakRssBytes,
      eventLoopDelayMs: { p50: probe.eventLoopDelayMs.p50, p99: probe.eventLoopDelayMs.p99, max: probe.eventLoopDelayMs.max },
      note: notes.join('; '),
      targets: [check('≥ 1000 tasks/s', tasksPerSecond, (rate) => rate >= 1000)],
    };
  },
};
