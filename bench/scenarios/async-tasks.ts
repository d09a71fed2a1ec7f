// Scenario 4: asynchronous tasks against a fast upstream. Clients submit with `?async=true` (202 and a
// task), poll `GET /v1/images/tasks/{id}` until the task is final, and submit the next: tasks
// completed per second, polling included, on the embedded store.

import { Pool } from 'undici';
import { runLoad } from '../load.js';
import { cpuSecondsOf, upstreamApiKey } from '../processes.js';
import { check, jsonPost, phaseSeconds, profiled, sideFigures, withCpuCost, type Scenario, type ScenarioResult } from '../scenario.js';
import { send } from './verify.js';

const body = { model: 'gpt-image-1-mini', prompt: 'a lighthouse at dusk', size: '1024x1024' };
const clients = 32;
/** Pause between two polls of one task: short, since the upstream answers at once. */
const pollIntervalMs = 5;
const finalStatuses = new Set(['succeeded', 'failed', 'canceled']);

interface TaskLoop {
  succeeded: number;
  failed: number;
  polls: number;
  elapsedSeconds: number;
  latenciesMs: number[];
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

/** `clients` closed loops of submit-then-poll for `seconds`; each loop finishes the task it holds. */
async function runTaskLoop(origin: string, apiKey: string, seconds: number): Promise<TaskLoop> {
  const pool = new Pool(origin, { connections: clients * 2 });
  const headers = { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` };
  const payload = JSON.stringify(body);
  const result: TaskLoop = { succeeded: 0, failed: 0, polls: 0, elapsedSeconds: 0, latenciesMs: [] };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const client = async () => {
    while (performance.now() < deadline) {
      const submittedAt = performance.now();
      const submitted = await readJson(await pool.request({ path: '/v1/images/generations?async=true', method: 'POST', headers, body: payload }));
      const id = submitted.body['id'];
      if (submitted.status !== 202 || typeof id !== 'string') {
        result.failed += 1;
        continue;
      }
      for (;;) {
        const polled = await readJson(await pool.request({ path: `/v1/images/tasks/${encodeURIComponent(id)}`, method: 'GET', headers }));
        result.polls += 1;
        const status = polled.body['status'];
        if (polled.status === 200 && typeof status === 'string' && finalStatuses.has(status)) {
          if (status === 'succeeded') result.succeeded += 1;
          else result.failed += 1;
          result.latenciesMs.push(performance.now() - submittedAt);
          break;
        }
        if (polled.status !== 200) {
          result.failed += 1;
          break;
        }
        await sleep(pollIntervalMs);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: clients }, client));
  } finally {
    result.elapsedSeconds = (performance.now() - started) / 1000;
    await pool.close();
  }
  return result;
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

    context.log(`tasks through imagegate, ${clients} clients, ${phaseSeconds(total, 0.5)} s`);
    await runTaskLoop(context.gateway.url, context.gateway.apiKey, phaseSeconds(total, 0.1));
    await context.gateway.resetMeasurements();
    const cpuBefore = await cpuSecondsOf(context.gateway.pid);
    const loop = await profiled(context, this.id, () => runTaskLoop(context.gateway.url, context.gateway.apiKey, phaseSeconds(total, 0.5)));
    const gatewayCpuSeconds = (await cpuSecondsOf(context.gateway.pid)) - cpuBefore;
    const peakRssBytes = await context.gateway.peakRssBytes();
    const probe = await context.gateway.probe();

    const tasksPerSecond = loop.succeeded / loop.elapsedSeconds;
    const sorted = loop.latenciesMs.sort((a, b) => a - b);
    return {
      ...base,
      direct: sideFigures(directResult),
      gateway: {
        requestsPerSecond: tasksPerSecond,
        latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? 0 },
        succeeded: loop.succeeded,
        failed: loop.failed,
        failedStatuses: {},
      },
      ...(directResult.requestsPerSecond > 0 ? { ratio: tasksPerSecond / directResult.requestsPerSecond } : {}),
      tasksPerSecond,
      cpuMsPerRequest: { upstream: upstreamCpu, gateway: loop.succeeded > 0 ? (gatewayCpuSeconds * 1000) / loop.succeeded : 0 },
      peakRssBytes,
      eventLoopDelayMs: { p50: probe.eventLoopDelayMs.p50, p99: probe.eventLoopDelayMs.p99, max: probe.eventLoopDelayMs.max },
      note: `${loop.polls} polls for ${loop.succeeded + loop.failed} tasks; latency is submit to final status`,
      ...(loop.failed > 0 ? { note: `${loop.failed} tasks failed; ${loop.polls} polls for ${loop.succeeded + loop.failed} tasks` } : {}),
      targets: [check('≥ 1000 tasks/s', tasksPerSecond, (rate) => rate >= 1000)],
    };
  },
};
