// Scenario 2: a 1024x1024 `b64_json` answer (about 2 MB of JSON) passed through unchanged.

import { upstreamApiKey } from '../processes.js';
import { check, jsonPost, measureRelay, relayResult, type Scenario } from '../scenario.js';
import { firstImage, send } from './verify.js';

const body = { model: 'gpt-image-1', prompt: 'a lighthouse at dusk', size: '1024x1024' };
const megabyte = 1024 * 1024;

export const largeB64Scenario: Scenario = {
  id: 2,
  title: '2 MB b64_json passed through',
  connections: 16,
  async run(context) {
    const direct = jsonPost(`${context.upstream.origin}/large-b64/v1/images/generations`, body, upstreamApiKey);
    const gateway = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);

    const relayed = firstImage(await send(gateway), 'imagegate')['b64_json'];
    const original = firstImage(await send(direct), 'upstream')['b64_json'];
    if (typeof relayed !== 'string' || relayed !== original) throw new Error('imagegate did not pass the upstream image through unchanged');

    const measured = await measureRelay(context, {
      scenarioId: this.id,
      direct,
      gateway,
      ...(context.portkey ? { portkey: context.portkey.target('/large-b64/v1', body) } : {}),
      ...(context.referenceRelay ? { reference: jsonPost(`${context.referenceRelay.origin}/large-b64/v1/images/generations`, body, upstreamApiKey) } : {}),
      connections: this.connections,
    });
    return relayResult(this, measured, (result) => [
      check('≥ 50% of direct', result.ratio, (ratio) => ratio >= 0.5),
      // Issue 15, target 4.
      check('≥ 80% of bare relay', result.referenceRelay && result.gateway ? result.gateway.requestsPerSecond / result.referenceRelay.requestsPerSecond : undefined, (share) => share >= 0.8),
      check('peak RSS ≤ 250 MB (MB)', result.peakRssBytes === undefined ? undefined : result.peakRssBytes / megabyte, (rss) => rss <= 250),
    ]);
  },
};
