// Scenario 5: 200 generations in flight at once, each held by a slow upstream: what waiting costs
// imagegate's event loop (its p99 delay, measured inside the process) and its memory.

import { runSpread } from '../load.js';
import { upstreamApiKey } from '../processes.js';
import { check, jsonPost, phaseSeconds, profiled, sideFigures, withCpuCost, type Scenario } from '../scenario.js';
import { firstImage, send } from './verify.js';

const body = { model: 'gpt-image-1.5', prompt: 'a lighthouse at dusk', size: '1024x1024' };

export const slowUpstreamScenario: Scenario = {
  id: 5,
  title: '200 concurrent, slow upstream',
  connections: 200,
  async run(context) {
    const direct = jsonPost(`${context.upstream.origin}/slow/v1/images/generations`, body, upstreamApiKey);
    const gateway = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);
    const relayed = firstImage(await send(gateway), 'imagegate')['b64_json'];
    if (typeof relayed !== 'string' || relayed.length === 0) throw new Error('imagegate answered without an image');

    const holdSeconds = context.slowMs / 1000;
    // Each phase must hold every connection's generation at least twice to count anything.
    const phase = Math.max(phaseSeconds(context.durationSeconds, 0.4), 2 * holdSeconds + 0.5);
    const connections = this.connections;
    // Arrivals spread over one hold, as 200 independent clients' would be: the measure is what holding
    // 200 generations costs, not how long a wave of 200 simultaneous arrivals takes to get through.
    const load = { connections, durationSeconds: phase, spreadMs: context.slowMs };
    context.log(`direct upstream, ${connections} connections, ${phase} s`);
    const { result: directResult, cpuMsPerRequest: upstreamCpu } = await withCpuCost(context.upstream.pid, () => runSpread(direct, load));
    context.log(`through imagegate, ${connections} connections, ${phase} s`);
    await runSpread(gateway, { ...load, durationSeconds: holdSeconds + 0.5 });
    await context.gateway.resetMeasurements();
    const { result: gatewayResult, cpuMsPerRequest: gatewayCpu } = await profiled(context, this.id, () =>
      withCpuCost(context.gateway.pid, () => runSpread(gateway, load)),
    );
    const peakRssBytes = await context.gateway.peakRssBytes();
    const probe = await context.gateway.probe();
    const eventLoopDelayMs = { p50: probe.eventLoopDelayMs.p50, p99: probe.eventLoopDelayMs.p99, max: probe.eventLoopDelayMs.max };
    return {
      id: this.id,
      title: this.title,
      connections,
      status: 'measured',
      direct: sideFigures(directResult),
      gateway: sideFigures(gatewayResult),
      ...(directResult.requestsPerSecond > 0 ? { ratio: gatewayResult.requestsPerSecond / directResult.requestsPerSecond } : {}),
      // Both sides carry the same 200 in flight, so the difference is imagegate's own time per request.
      addedLatencyMs: {
        p50: gatewayResult.latencyMs.p50 - directResult.latencyMs.p50,
        p99: gatewayResult.latencyMs.p99 - directResult.latencyMs.p99,
        atRequestsPerSecond: Math.round(gatewayResult.requestsPerSecond),
      },
      peakRssBytes,
      eventLoopDelayMs,
      cpuMsPerRequest: { upstream: upstreamCpu, gateway: gatewayCpu },
      ...(gatewayResult.failed > 0 ? { note: `imagegate answered ${gatewayResult.failed} requests with errors: ${JSON.stringify(gatewayResult.failedStatuses)}` } : {}),
      targets: [check('event loop p99 ≤ 20 ms', eventLoopDelayMs.p99, (delay) => delay <= 20)],
    };
  },
};
