// Scenario 8: the SQLite WAL under sustained load (issue 15, target 3). The small-b64 request of
// scenario 6 from 64 connections for at least 60 s (four times --duration when that is longer); the
// -wal file's size is sampled every 100 ms. Then the load stops and the file is watched until the
// checkpointer has emptied it (or 10 s pass).

import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { runLoad } from '../load.js';
import { check, jsonPost, sideFigures, type Scenario } from '../scenario.js';

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };
const megabyte = 1024 * 1024;

async function sizeOf(file: string): Promise<number> {
  return stat(file).then(
    (found) => found.size,
    () => 0,
  );
}

export const walBoundScenario: Scenario = {
  id: 8,
  title: 'WAL under 60 s of sustained load',
  connections: 64,
  async run(context) {
    const wal = join(context.gateway.dataDir, 'data', 'imagegate.sqlite-wal');
    const seconds = Math.max(60, context.durationSeconds * 4);
    let peak = 0;
    const sampler = setInterval(() => {
      void sizeOf(wal).then((size) => (peak = Math.max(peak, size)));
    }, 100);
    context.log(`small b64 through imagegate, ${this.connections} connections, ${seconds} s, sampling ${wal}`);
    let load;
    try {
      load = await runLoad(jsonPost(`${context.gateway.url}/v1/images/generations`, body, context.gateway.apiKey), { connections: this.connections, durationSeconds: seconds });
    } finally {
      clearInterval(sampler);
    }
    const deadline = Date.now() + 10_000;
    let idle = await sizeOf(wal);
    while (idle > 4 * megabyte && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      idle = await sizeOf(wal);
    }
    return {
      id: this.id,
      title: this.title,
      connections: this.connections,
      status: 'measured',
      gateway: sideFigures(load),
      note: `${load.succeeded} requests in ${seconds} s; WAL peak ${(peak / megabyte).toFixed(1)} MB, ${(idle / megabyte).toFixed(1)} MB once idle`,
      targets: [check('WAL peak < 64 MB (MB)', peak / megabyte, (mb) => mb < 64), check('WAL idle ≤ 4 MB (MB)', idle / megabyte, (mb) => mb <= 4)],
    };
  },
};
