// Scenario 7: latency at half of imagegate's maximum throughput, with random (Poisson) arrivals. The
// small-b64 request of scenario 6; first imagegate's maximum with 64 closed-loop connections, then
// the same seeded arrivals at half that rate direct and through imagegate, in turns (direct,
// imagegate, direct, …: a stall of the shared machine lands on either side by chance, not on one
// side's only phase). Added p99 is imagegate's p99 minus the direct p99, each over all of its turns
// and measured from the scheduled arrival (queueing included).

import { runLoad, runOpenLoopInTurns } from '../load.js';
import { upstreamApiKey } from '../processes.js';
import { check, jsonPost, phaseSeconds, profiled, sideFigures, type Scenario } from '../scenario.js';
import { firstImage, send } from './verify.js';

/** Turns per side: each side's share of the phase is cut into this many slices, taken alternately. */
const turns = 3;
/** Unmeasured load at the start of each turn (see runOpenLoopInTurns). */
const leadInSeconds = 0.5;

const formatAdded = (ms: number) => `${ms >= 0 ? '+' : ''}${ms.toFixed(1)} ms`;

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };

export const openLoopScenario: Scenario = {
  id: 7,
  title: 'open-loop latency at half of max (small b64)',
  connections: 64,
  async run(context) {
    const direct = jsonPost(`${context.upstream.origin}/large-b64/v1/images/generations`, body, upstreamApiKey);
    const gateway = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);
    if (typeof firstImage(await send(gateway), 'imagegate')['b64_json'] !== 'string') throw new Error('imagegate did not answer b64_json');

    const total = context.durationSeconds;
    context.log(`imagegate's maximum, ${this.connections} connections, ${phaseSeconds(total, 0.25, 1)} s`);
    await runLoad(gateway, { connections: this.connections, durationSeconds: phaseSeconds(total, 0.1) });
    const maximum = await runLoad(gateway, { connections: this.connections, durationSeconds: phaseSeconds(total, 0.25, 1) });
    const rate = Math.max(1, Math.round(maximum.requestsPerSecond / 2));
    const seconds = phaseSeconds(total, 0.3, 1);
    context.log(`random arrivals at ${rate} req/s, ${seconds} s each side in ${turns} turns`);
    // The gateway's measurements (event loop, peak RSS, profile) span the direct turns too, when it idles.
    await context.gateway.resetMeasurements();
    // The reference relays take turns too, at the same rate: what a bare Fastify + undici relay, and one
    // that also makes every charge durable, add over direct on this machine (context, not the verdict).
    const relays = [
      ...(context.referenceRelay ? [{ name: 'bare relay', target: jsonPost(`${context.referenceRelay.origin}/large-b64/v1/images/generations`, body, upstreamApiKey) }] : []),
      ...(context.durableRelay ? [{ name: 'durable relay', target: jsonPost(`${context.durableRelay.origin}/large-b64/v1/images/generations`, body, upstreamApiKey) }] : []),
    ];
    const [directOpen, gatewayOpen, ...relaysOpen] = await profiled(context, this.id, () =>
      runOpenLoopInTurns([direct, gateway, ...relays.map((relay) => relay.target)], { rate, durationSeconds: seconds, turns, leadInSeconds }),
    );
    if (directOpen === undefined || gatewayOpen === undefined) throw new Error('the open loop measured no side');
    const relayNotes = relays.map((relay, index) => {
      const p99 = relaysOpen[index]?.latencyMs.p99 ?? 0;
      return `${relay.name} p99 ${p99.toFixed(1)} ms (${formatAdded(p99 - directOpen.latencyMs.p99)})`;
    });
    const probe = await context.gateway.probe();
    const addedP99 = gatewayOpen.latencyMs.p99 - directOpen.latencyMs.p99;
    // imagegate calls the same upstream, so a direct p99 well above imagegate's means the direct phase
    // stalled (the load generator or the fake, on a shared machine): no verdict from such a run.
    const directStalled = addedP99 < -5;
    return {
      id: this.id,
      title: this.title,
      connections: this.connections,
      status: 'measured',
      direct: sideFigures(directOpen),
      gateway: sideFigures(gatewayOpen),
      ratio: directOpen.requestsPerSecond > 0 ? gatewayOpen.requestsPerSecond / directOpen.requestsPerSecond : 0,
      addedLatencyMs: { p50: gatewayOpen.latencyMs.p50 - directOpen.latencyMs.p50, p99: addedP99, atRequestsPerSecond: rate },
      peakRssBytes: await context.gateway.peakRssBytes(),
      eventLoopDelayMs: { p50: probe.eventLoopDelayMs.p50, p99: probe.eventLoopDelayMs.p99, max: probe.eventLoopDelayMs.max },
      note: `maximum ${Math.round(maximum.requestsPerSecond)} req/s (closed loop); open loop at ${rate} req/s (${turns} turns a side, each after a ${leadInSeconds} s lead-in): direct p99 ${directOpen.latencyMs.p99.toFixed(1)} ms, imagegate p99 ${gatewayOpen.latencyMs.p99.toFixed(1)} ms${relayNotes.map((line) => `, ${line}`).join('')}${directStalled ? '; not judged: the direct phase stalled (its p99 is above imagegate\'s), run it again' : ''}${gatewayOpen.failed > 0 ? `; ${gatewayOpen.failed} failed ${JSON.stringify(gatewayOpen.failedStatuses)}` : ''}`,
      targets: [check('p99 added ≤ 5 ms (open loop, half of max)', directStalled ? undefined : addedP99, (added) => added <= 5)],
    };
  },
};
