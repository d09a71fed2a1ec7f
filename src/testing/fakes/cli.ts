// `npm run fake -- <provider> [--port N] [--api-key K] [--latency-ms N] [--fail-status N] ...`:
// runs one provider fake on its own, for demos, manual testing and the benchmark.

import { parseArgs } from 'node:util';
import type { FakeServer, FakeSwitches } from './shared.js';
import { fakeMain as a1111 } from './a1111.js';
import { fakeMain as bfl } from './bfl.js';
import { fakeMain as openrouter, relayFakeMain as chatCompletions } from './chat-completions.js';
import { fakeMain as comfyui } from './comfyui.js';
import { fakeMain as dashscope } from './dashscope.js';
import { fakeMain as fal } from './fal.js';
import { fakeMain as google } from './google.js';
import { fakeMain as ideogram } from './ideogram.js';
import { fakeMain as kling } from './kling.js';
import { fakeMain as midjourneyProxy } from './midjourney-proxy.js';
import { fakeMain as openai } from './openai.js';
import { fakeMain as recraft } from './recraft.js';
import { fakeMain as xai } from './xai.js';
import { fakeMain as replicate } from './replicate.js';
import { fakeMain as stability } from './stability.js';
import { fakeMain as volcengine } from './volcengine.js';

type FakeMain = (argv: { port: number; apiKey?: string; switches: FakeSwitches }) => Promise<FakeServer>;

export const fakes: Record<string, FakeMain> = { openai, bfl, replicate, fal, google, stability, a1111, comfyui, 'midjourney-proxy': midjourneyProxy, ideogram, kling, volcengine, openrouter, 'chat-completions': chatCompletions, recraft, xai, dashscope };

const usage = `usage: npm run fake -- <${Object.keys(fakes).join('|')}> [--port N] [--api-key KEY]
  [--latency-ms N] [--fail-status N] [--retry-after-seconds N] [--hang] [--moderation input|output]
  [--max-images N] [--malformed] [--polls-before-ready N] [--result-url-ttl-ms N]
  [--queue-full] (midjourney-proxy: submissions answered code 23)`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string', default: '0' },
      'api-key': { type: 'string' },
      'latency-ms': { type: 'string' },
      'fail-status': { type: 'string' },
      'retry-after-seconds': { type: 'string' },
      hang: { type: 'boolean' },
      moderation: { type: 'string' },
      'max-images': { type: 'string' },
      malformed: { type: 'boolean' },
      'polls-before-ready': { type: 'string' },
      'result-url-ttl-ms': { type: 'string' },
      'queue-full': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const name = positionals[0];
  const start = name ? fakes[name] : undefined;
  if (values.help || !start) {
    process.stderr.write(`${usage}\n`);
    process.exit(values.help ? 0 : 2);
  }
  const number = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const moderation = values.moderation === 'input' || values.moderation === 'output' ? values.moderation : undefined;
  const switches: FakeSwitches = {
    latencyMs: number(values['latency-ms']),
    failStatus: number(values['fail-status']),
    retryAfterSeconds: number(values['retry-after-seconds']),
    hang: values.hang,
    moderation,
    maxImages: number(values['max-images']),
    malformed: values.malformed,
    pollsBeforeReady: number(values['polls-before-ready']),
    resultUrlTtlMs: number(values['result-url-ttl-ms']),
  };
  for (const key of Object.keys(switches) as (keyof FakeSwitches)[]) if (switches[key] === undefined) delete switches[key];
  if (values['queue-full']) Object.assign(switches, { queueFull: true });
  const server = await start({ port: Number(values.port), apiKey: values['api-key'], switches });
  process.stdout.write(`${name} fake listening on ${server.url}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
