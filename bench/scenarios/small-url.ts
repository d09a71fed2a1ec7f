// Scenario 1: a small `url` answer relayed. The upstream answers with a link to a small PNG; imagegate
// downloads it through the guarded client, stores it and answers with its own signed link.

import { upstreamApiKey } from '../processes.js';
import { check, jsonPost, measureRelay, relayResult, type Scenario } from '../scenario.js';
import { download, firstImage, send } from './verify.js';

const body = { model: 'dall-e-3', prompt: 'a lighthouse at dusk', size: '1024x1024', response_format: 'url' };

export const smallUrlScenario: Scenario = {
  id: 1,
  title: 'small url response relayed',
  connections: 64,
  async run(context) {
    const direct = jsonPost(`${context.upstream.origin}/small-url/v1/images/generations`, body, upstreamApiKey);
    const gateway = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);

    const link = firstImage(await send(gateway), 'imagegate')['url'];
    if (typeof link !== 'string' || !link.startsWith(context.gateway.url)) throw new Error(`imagegate did not answer with its own link: ${String(link)}`);
    const hosted = await download(link);
    const original = await download(`${context.upstream.origin}/files/small.png`);
    if (hosted.status !== 200 || !hosted.bytes.equals(original.bytes)) throw new Error(`the hosted image is not the upstream's (HTTP ${hosted.status})`);

    const measured = await measureRelay(context, {
      scenarioId: this.id,
      direct,
      gateway,
      ...(context.portkey ? { portkey: context.portkey.target('/small-url/v1', body) } : {}),
      ...(context.referenceRelay ? { reference: jsonPost(`${context.referenceRelay.origin}/small-url/v1/images/generations`, body, upstreamApiKey) } : {}),
      connections: this.connections,
    });
    return relayResult(this, measured, (result) => [
      check('≥ 40% of direct', result.ratio, (ratio) => ratio >= 0.4),
      check('p99 added ≤ 3 ms at half load', result.addedLatencyMs?.p99, (added) => added <= 3),
    ]);
  },
};
