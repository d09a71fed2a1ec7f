// Scenario 3: the upstream answers base64 and the client asked for `url`: imagegate decodes the
// 2 MB answer, stores the image and answers with a signed link.

import { upstreamApiKey } from '../processes.js';
import { check, jsonPost, measureRelay, relayResult, type Scenario } from '../scenario.js';
import { download, firstImage, send } from './verify.js';

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '1024x1024', response_format: 'url' };

export const rehostUrlScenario: Scenario = {
  id: 3,
  title: 'b64 upstream, url asked (decode, store, sign)',
  connections: 16,
  async run(context) {
    const direct = jsonPost(`${context.upstream.origin}/large-b64/v1/images/generations`, body, upstreamApiKey);
    const gateway = jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey);

    const link = firstImage(await send(gateway), 'imagegate')['url'];
    if (typeof link !== 'string' || !link.startsWith(context.gateway.url)) throw new Error(`imagegate did not answer with its own link: ${String(link)}`);
    const hosted = await download(link);
    const original = firstImage(await send(direct), 'upstream')['b64_json'];
    if (hosted.status !== 200 || hosted.bytes.toString('base64') !== original) throw new Error(`the hosted image is not the upstream's (HTTP ${hosted.status})`);

    const measured = await measureRelay(context, { scenarioId: this.id, direct, gateway, connections: this.connections });
    return relayResult(this, measured, (result) => [check('≥ 40% of direct', result.ratio, (ratio) => ratio >= 0.4)]);
  },
};
