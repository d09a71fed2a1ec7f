// Scenario 6: the small-body path of issue 15 — dall-e-2 256x256 `b64_json` (about 4 KB of JSON),
// 64 connections, against the fast fake, on a metered key with rate limits: auth, validation,
// routing, billing (reserve and settle, durable before the answer), rate limits and the request log
// all run, and nothing else (no download, no store). Compared with the bare relay in the same run.

import { upstreamApiKey } from '../processes.js';
import { check, jsonPost, measureRelay, relayResult, type Scenario } from '../scenario.js';
import { firstImage, send } from './verify.js';

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };

const percentOf = (part: number, whole: number) => (whole > 0 ? `${Math.round((part / whole) * 100)}%` : '–');

export const smallB64Scenario: Scenario = {
  id: 6,
  title: 'small b64_json (dall-e-2 256x256, ~4 KB)',
  connections: 64,
  async run(context) {
    const direct = jsonPost(`${context.upstream.origin}/large-b64/v1/images/generations`, body, upstreamApiKey);
    const gateway = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);

    const relayed = firstImage(await send(gateway), 'imagegate')['b64_json'];
    const original = firstImage(await send(direct), 'upstream')['b64_json'];
    if (typeof relayed !== 'string' || relayed !== original) throw new Error('imagegate did not pass the upstream image through unchanged');
    if (original.length < 3000 || original.length > 6000) throw new Error(`the fake's 256x256 answer is ${original.length} characters of base64, not about 4 KB`);

    const measured = await measureRelay(context, {
      scenarioId: this.id,
      direct,
      gateway,
      ...(context.referenceRelay ? { reference: jsonPost(`${context.referenceRelay.origin}/large-b64/v1/images/generations`, body, upstreamApiKey) } : {}),
      ...(context.durableRelay ? { durable: jsonPost(`${context.durableRelay.origin}/large-b64/v1/images/generations`, body, upstreamApiKey) } : {}),
      connections: this.connections,
    });
    const result = relayResult(this, measured, (result) => {
      const reference = result.referenceRelay;
      return [
        check(
          'CPU/req ≤ 2× bare relay',
          reference && result.cpuMsPerRequest ? result.cpuMsPerRequest.gateway / reference.cpuMsPerRequest : undefined,
          (times) => times <= 2,
        ),
        check('req/s ≥ 50% of bare relay', reference && result.gateway ? result.gateway.requestsPerSecond / reference.requestsPerSecond : undefined, (share) => share >= 0.5),
      ];
    });
    // The verdicts stay the issue's (against the bare relay); beside them, where the guarantees' floor is.
    const floor = result.durableRelay;
    const reference = result.referenceRelay;
    if (floor && reference && result.gateway && result.cpuMsPerRequest) {
      const cpu = result.cpuMsPerRequest.gateway;
      const line =
        `CPU/req: imagegate ${cpu.toFixed(3)} ms, bare relay ${reference.cpuMsPerRequest.toFixed(3)} ms, minimal durable relay ${floor.cpuMsPerRequest.toFixed(3)} ms ` +
        `(imagegate ${(cpu / reference.cpuMsPerRequest).toFixed(2)}× bare, ${(cpu / floor.cpuMsPerRequest).toFixed(2)}× durable; durable ${(floor.cpuMsPerRequest / reference.cpuMsPerRequest).toFixed(2)}× bare); ` +
        `req/s: imagegate ${Math.round(result.gateway.requestsPerSecond)}, bare ${Math.round(reference.requestsPerSecond)}, durable ${Math.round(floor.requestsPerSecond)} ` +
        `(imagegate ${percentOf(result.gateway.requestsPerSecond, reference.requestsPerSecond)} of bare, ${percentOf(result.gateway.requestsPerSecond, floor.requestsPerSecond)} of durable; ` +
        `durable ${percentOf(floor.requestsPerSecond, reference.requestsPerSecond)} of bare)`;
      result.note = result.note === undefined ? line : `${result.note}; ${line}`;
    }
    return result;
  },
};
