// Issue 10 items 10 and 11: an upstream account without credit (OpenAI's 429 `insufficient_quota`,
// fal's 403 "User is locked. Reason: Exhausted balance") fails over to the next channel at once, is
// not retried as a rate limit, and marks the channel out of funds, not as a credentials problem.

import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { falFakeDefaultApiKey, startFalFake } from '../../src/testing/fakes/fal.js';
import { defaultOpenAIFakeApiKey, startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { generate } from './providers-support.js';

let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

async function openaiFake(): Promise<OpenAIFake> {
  const fake = await startOpenAIFake();
  closers.push(fake.close);
  return fake;
}

function openaiChannel(name: string, fake: OpenAIFake, priority: number): ChannelConfig {
  return { name, provider: 'openai', base_url: `${fake.url}/v1`, api_key: defaultOpenAIFakeApiKey, models: ['gpt-image-2'], priority };
}

async function gatewayWith(channels: ChannelConfig[]): Promise<TestGateway> {
  const gateway = await startTestGateway({ channels });
  closers.push(gateway.close);
  return gateway;
}

/** Image requests that reached the fake, answered or refused. */
const calls = (fake: OpenAIFake) => fake.requests.filter((request) => request.path.startsWith('/v1/images/')).length;

const ask = (gateway: TestGateway, model = 'gpt-image-2') => generate(gateway, { model, prompt: 'a lighthouse', size: '1024x1024', quality: 'low' });

describe('OpenAI 429 insufficient_quota (item 11)', () => {
  it('fails over to the next channel after one call, and marks the channel out of funds (not bad credentials)', async () => {
    const [broke, funded] = [await openaiFake(), await openaiFake()];
    broke.switches.outOfFunds = true;
    const gateway = await gatewayWith([openaiChannel('broke', broke, 5), openaiChannel('funded', funded, 0)]);

    const answer = await ask(gateway);
    expect(answer.status).toBe(200);
    // One call to the empty account: not retried as a rate limit would be.
    expect([calls(broke), funded.imageCalls]).toEqual([1, 1]);
    expect(gateway.gateway.router.get('broke')).toMatchObject({
      enabled: false,
      disabled_reason: 'upstream_out_of_funds',
      health: { rejected_keys: [], out_of_funds_keys: [0] },
    });

    // The channel stays out of the rotation: the next request goes straight to the funded one.
    expect((await ask(gateway)).status).toBe(200);
    expect([calls(broke), funded.imageCalls]).toEqual([1, 2]);
  });

  it('answers 502 upstream_out_of_funds, not a 429 with retry-after, when no channel has credit', async () => {
    const broke = await openaiFake();
    broke.switches.outOfFunds = true;
    const gateway = await gatewayWith([openaiChannel('broke', broke, 0)]);
    const answer = await ask(gateway);
    expect(answer.status).toBe(502);
    expect(answer.body.error).toMatchObject({ code: 'upstream_out_of_funds', type: 'server_error' });
    expect(answer.headers.get('retry-after')).toBeNull();
    expect(answer.text).not.toContain(defaultOpenAIFakeApiKey);
    expect(calls(broke)).toBe(1);
  });
});

describe('fal 403 "Exhausted balance" (item 10)', () => {
  it('fails over and marks the fal channel out of funds', async () => {
    const fal = await startFalFake();
    closers.push(fal.close);
    fal.switches.outOfFunds = true;
    const funded = await openaiFake();
    const gateway = await gatewayWith([
      { name: 'fal', provider: 'fal', base_url: fal.url, api_key: falFakeDefaultApiKey, models: ['flux-schnell'], model_map: { 'flux-schnell': 'fal-ai/flux/schnell' }, priority: 5, poll_interval_ms: 5 },
      {
        name: 'compatible',
        provider: 'openai',
        base_url: `${funded.url}/v1`,
        api_key: defaultOpenAIFakeApiKey,
        models: ['flux-schnell'],
        model_map: { 'flux-schnell': 'flux-schnell-compatible' },
        priority: 0,
      },
    ]);
    const answer = await generate(gateway, { model: 'flux-schnell', prompt: 'a lighthouse', size: '1024x1024' });
    expect(answer.status).toBe(200);
    expect(fal.requests.filter((request) => request.method === 'POST')).toHaveLength(1);
    expect(gateway.gateway.router.get('fal')).toMatchObject({ enabled: false, disabled_reason: 'upstream_out_of_funds', health: { out_of_funds_keys: [0] } });
  });
});
