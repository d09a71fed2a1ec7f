// Scenario 9: multi-core (issue 15, target 7). The small-b64 request of scenario 6, 64 connections,
// through the scenario's own single-process imagegate and then through a second one started with
// `server.workers: 2`, back to back in the same run. Rate limits (counted in the cluster's primary)
// and quotas (in the shared SQLite file) stay exact across workers; test/e2e/workers.test.ts proves it.
// Then the bare reference relay the same way (one process, then 2 cluster workers), so the report
// shows whether this machine, whose cores the load generator and the fake upstream share, lets any
// relay scale by 1.6×.

import { runLoadAnswered, type LoadResult } from '../load.js';
import { cpuSecondsOfTree, startGatewayProcess, startReferenceRelayProcess, upstreamApiKey } from '../processes.js';
import { check, jsonPost, phaseSeconds, sideFigures, type Scenario, type ScenarioContext } from '../scenario.js';
import { benchChannels } from './channels.js';

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };

/** Runs `phase` and adds the CPU milliseconds per answered request of `pid` and its children (a cluster). */
async function withTreeCpu(pid: number, phase: () => Promise<LoadResult>): Promise<LoadResult & { cpuMsPerRequest: number }> {
  const before = await cpuSecondsOfTree(pid);
  const result = await phase();
  const spent = (await cpuSecondsOfTree(pid)) - before;
  return { ...result, cpuMsPerRequest: result.succeeded > 0 ? (spent * 1000) / result.succeeded : 0 };
}

/** The bare relay's req/s as the run's one process, then as 2 cluster workers started for this. */
async function bareRelayScaling(context: ScenarioContext, singleOrigin: string, phases: { connections: number; seconds: number; warm: number }) {
  const { connections, seconds, warm } = phases;
  const target = (origin: string) => jsonPost(`${origin}/large-b64/v1/images/generations`, body, upstreamApiKey);
  context.log(`the bare relay, one process then two workers, ${connections} connections, ${seconds} s each`);
  await runLoadAnswered(target(singleOrigin), { connections, durationSeconds: warm });
  const one = await runLoadAnswered(target(singleOrigin), { connections, durationSeconds: seconds });
  const relay = await startReferenceRelayProcess(context.upstream.origin, { workers: 2 });
  try {
    await runLoadAnswered(target(relay.origin), { connections, durationSeconds: Math.max(2, warm) });
    const two = await runLoadAnswered(target(relay.origin), { connections, durationSeconds: seconds });
    return { oneRequestsPerSecond: one.requestsPerSecond, twoRequestsPerSecond: two.requestsPerSecond, times: one.requestsPerSecond > 0 ? two.requestsPerSecond / one.requestsPerSecond : 0 };
  } finally {
    await relay.close();
  }
}

export const workersScenario: Scenario = {
  id: 9,
  title: 'server.workers: 2 vs 1 (small b64)',
  connections: 64,
  async run(context) {
    const seconds = phaseSeconds(context.durationSeconds, context.referenceRelay ? 0.2 : 0.35, 1);
    const warm = phaseSeconds(context.durationSeconds, 0.1);
    const one = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);
    context.log(`one process, ${this.connections} connections, ${seconds} s`);
    await runLoadAnswered(one, { connections: this.connections, durationSeconds: warm });
    const single = await withTreeCpu(context.gateway.pid, () => runLoadAnswered(one, { connections: this.connections, durationSeconds: seconds }));
    // Measured while no second imagegate runs: an idle cluster still holds memory and wakes for timers.
    const reference = context.referenceRelay ? await bareRelayScaling(context, context.referenceRelay.origin, { connections: this.connections, seconds, warm }) : undefined;

    const clustered = await startGatewayProcess({ upstreamOrigin: context.upstream.origin, channels: benchChannels, workers: 2, ...context.gatewayChoice });
    try {
      const two = jsonPost(`${clustered.url}/v1/images/generations`, body, clustered.apiKey);
      context.log(`two workers, ${this.connections} connections, ${seconds} s`);
      // The warm-up also gives the second worker time to listen beside the first.
      await runLoadAnswered(two, { connections: this.connections, durationSeconds: Math.max(2, warm) });
      const double = await withTreeCpu(clustered.pid, () => runLoadAnswered(two, { connections: this.connections, durationSeconds: seconds }));
      const scaling = single.requestsPerSecond > 0 ? double.requestsPerSecond / single.requestsPerSecond : undefined;
      return {
        id: this.id,
        title: this.title,
        connections: this.connections,
        status: 'measured',
        direct: sideFigures(single),
        gateway: sideFigures(double),
        ...(scaling === undefined ? {} : { ratio: scaling }),
        // CPU of the primary and both workers together: what the cluster costs per request beside one process.
        cpuMsPerRequest: { upstream: single.cpuMsPerRequest, gateway: double.cpuMsPerRequest },
        note:
          `one process ${Math.round(single.requestsPerSecond)} req/s at ${single.cpuMsPerRequest.toFixed(2)} ms CPU/req, two workers ${Math.round(double.requestsPerSecond)} req/s ` +
          `at ${double.cpuMsPerRequest.toFixed(2)} ms CPU/req (primary and workers together; the "direct" column is the single process here)` +
          (reference
            ? `; the bare relay: one process ${Math.round(reference.oneRequestsPerSecond)} req/s, two workers ${Math.round(reference.twoRequestsPerSecond)} req/s (×${reference.times.toFixed(2)})`
            : ''),
        ...(reference ? { referenceScaling: reference } : {}),
        targets: [check('2 workers ≥ 1.6× one process (×)', scaling, (times) => times >= 1.6)],
      };
    } finally {
      await clustered.close();
    }
  },
};
