// Scenario 6: the small-body path of issue 15 — dall-e-2 256x256 `b64_json` (about 4 KB of JSON),
// 64 connections, against the fast fake, on a metered key with rate limits: auth, validation,
// routing, billing (reserve and settle, durable before the answer), rate limits and the request log
// all run, and nothing else (no download, no store). Compared with the bare relay in the same run.

import { runLoad } from '../load.js';
import { cpuSecondsOfPostgresServer, startGatewayProcess, upstreamApiKey } from '../processes.js';
import { check, jsonPost, measureRelay, phaseSeconds, relayResult, withCpuCost, type Scenario, type ScenarioContext, type ScenarioResult } from '../scenario.js';
import { benchChannels } from './channels.js';
import { firstImage, send } from './verify.js';

const body = { model: 'dall-e-2', prompt: 'a lighthouse at dusk', size: '256x256', response_format: 'b64_json' };

const percentOf = (part: number, whole: number) => (whole > 0 ? `${Math.round((part / whole) * 100)}%` : '–');

/**
 * The same request through a second imagegate on the run's PostgreSQL schema (the SQLite one idle
 * meanwhile): informative, no target. The server's CPU is read from /proc, so only a server on this
 * machine is counted (a remote one reads as none).
 */
async function measureOnPostgres(context: ScenarioContext, databaseUrl: string, connections: number): Promise<NonNullable<ScenarioResult['postgresRequests']>> {
  const gateway = await startGatewayProcess({ upstreamOrigin: context.upstream.origin, channels: benchChannels, databaseUrl, ...context.gatewayChoice });
  try {
    const target = jsonPost(`${gateway.url}/v1/images/generations`, body, gateway.apiKey);
    firstImage(await send(target), 'imagegate on PostgreSQL');
    const seconds = phaseSeconds(context.durationSeconds, 0.2, 1);
    context.log(`imagegate on PostgreSQL, ${connections} connections, ${seconds} s`);
    await runLoad(target, { connections, durationSeconds: phaseSeconds(context.durationSeconds, 0.05) });
    const serverBefore = await cpuSecondsOfPostgresServer();
    const { result, cpuMsPerRequest } = await withCpuCost(gateway.pid, () => runLoad(target, { connections, durationSeconds: seconds }));
    const server = (await cpuSecondsOfPostgresServer()) - serverBefore;
    return {
      requestsPerSecond: result.requestsPerSecond,
      cpuMsPerRequest,
      ...(server > 0 && result.succeeded > 0 ? { serverCpuMsPerRequest: (server * 1000) / result.succeeded } : {}),
      failed: result.failed,
    };
  } catch (error) {
    return { unavailable: `on PostgreSQL: ${error instanceof Error ? error.message : String(error)}` };
  } finally {
    await gateway.close();
  }
}

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
    if (context.postgres !== undefined) {
      const onPostgres = 'databaseUrl' in context.postgres ? await measureOnPostgres(context, context.postgres.databaseUrl, this.connections) : context.postgres;
      result.postgresRequests = onPostgres;
      const line =
        'requestsPerSecond' in onPostgres
          ? `PostgreSQL (no target): ${Math.round(onPostgres.requestsPerSecond)} req/s at ${onPostgres.cpuMsPerRequest.toFixed(3)} ms CPU/req` +
            `${onPostgres.serverCpuMsPerRequest === undefined ? '' : ` + ${onPostgres.serverCpuMsPerRequest.toFixed(3)} ms in the PostgreSQL server`}${onPostgres.failed > 0 ? `, ${onPostgres.failed} failed` : ''}`
          : `PostgreSQL not measured: ${onPostgres.unavailable}`;
      result.note = result.note === undefined ? line : `${result.note}; ${line}`;
    }
    return result;
  },
};
