// Which channel serves, over real HTTP: priority first, weights within a priority (seeded draws),
// upstream keys in rotation (a refused one skipped), and the per-channel concurrency limit.

import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { seededRandom } from '../../src/routing/channel-order.js';
import { generate, imagesOf, waitUntil } from './providers-support.js';
import { startKeyedUpstream, type KeyedUpstream } from './routing-support.js';

let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

function openaiChannel(name: string, fake: OpenAIFake | KeyedUpstream, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return { name, provider: 'openai', base_url: `${fake.url}/v1`, api_key: 'apiKey' in fake ? fake.apiKey : undefined, models: ['gpt-image-1'], ...overrides };
}

async function gatewayWith(channels: ChannelConfig[], seed = 1234): Promise<TestGateway> {
  const gateway = await startTestGateway({ channels }, { random: seededRandom(seed) });
  closers.push(gateway.close);
  return gateway;
}

async function fake(): Promise<OpenAIFake> {
  const started = await startOpenAIFake();
  closers.push(started.close);
  return started;
}

const ask = (gateway: TestGateway) => generate(gateway, { model: 'gpt-image-1', prompt: 'a kite', size: '1024x1024', quality: 'low' });

describe('priority and weight', () => {
  it('sends everything to the highest priority while it is healthy', async () => {
    const [high, low] = [await fake(), await fake()];
    const gateway = await gatewayWith([openaiChannel('low', low, { priority: 0, weight: 100 }), openaiChannel('high', high, { priority: 5, weight: 1 })]);
    for (let index = 0; index < 12; index += 1) expect((await ask(gateway)).status).toBe(200);
    expect([high.imageCalls, low.imageCalls]).toEqual([12, 0]);
  });

  it('splits traffic 3:1 by weight among channels of one priority', async () => {
    const [heavy, light] = [await fake(), await fake()];
    const gateway = await gatewayWith([openaiChannel('heavy', heavy, { weight: 3 }), openaiChannel('light', light, { weight: 1 })]);
    const total = 80;
    // Concurrent, as real traffic is: the draw is per request.
    const answers = await Promise.all(Array.from({ length: total }, () => ask(gateway)));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(heavy.imageCalls + light.imageCalls).toBe(total);
    expect(heavy.imageCalls).toBeGreaterThanOrEqual(48);
    expect(heavy.imageCalls).toBeLessThanOrEqual(72);
    expect(light.imageCalls).toBeGreaterThanOrEqual(8);
  });
});

describe('upstream keys in rotation', () => {
  const firstKey = 'sk-rotation-first-000000000000';
  const secondKey = 'sk-rotation-second-11111111111';

  it('uses the channel’s keys round-robin', async () => {
    const upstream = await startKeyedUpstream([firstKey, secondKey]);
    closers.push(upstream.close);
    const gateway = await gatewayWith([openaiChannel('keyed', upstream, { api_keys: [firstKey, secondKey] })]);
    for (let index = 0; index < 4; index += 1) expect((await ask(gateway)).status).toBe(200);
    expect(upstream.keysSeen).toEqual([firstKey, secondKey, firstKey, secondKey]);
  });

  it('skips a key the upstream refuses, retrying the request with the next key, and keeps the channel', async () => {
    const refusedKey = 'sk-rotation-revoked-2222222222';
    const upstream = await startKeyedUpstream([firstKey, secondKey]);
    closers.push(upstream.close);
    const gateway = await gatewayWith([openaiChannel('keyed', upstream, { api_keys: [refusedKey, firstKey, secondKey] })]);
    for (let index = 0; index < 4; index += 1) {
      const answer = await ask(gateway);
      expect(answer.status).toBe(200);
      expect(answer.text).not.toContain(refusedKey);
    }
    expect(upstream.keysSeen).toEqual([refusedKey, firstKey, secondKey, firstKey, secondKey]);
    expect(gateway.gateway.router.get('keyed')).toMatchObject({ enabled: true, health: { rejected_keys: [0] } });
  });
});

describe('per-channel concurrency limit', () => {
  it('queues beyond max_concurrency, answers 429 upstream_busy when the queue is full, never exceeds the limit upstream', async () => {
    const upstream = await startKeyedUpstream(['sk-limited-key-0000000000']);
    closers.push(upstream.close);
    const gateway = await gatewayWith([openaiChannel('limited', upstream, { api_key: 'sk-limited-key-0000000000', max_concurrency: 1, max_queue: 1 })]);
    const registry = gateway.gateway.router;

    upstream.hold();
    const first = ask(gateway);
    await waitUntil(() => upstream.inFlight === 1, 'the first request reached the upstream');
    const second = ask(gateway);
    await waitUntil(() => registry.get('limited')?.health.queued === 1, 'the second request is queued');

    const refused = await ask(gateway);
    expect(refused.status).toBe(429);
    expect(refused.body.error).toMatchObject({ code: 'upstream_busy', type: 'server_error' });
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(upstream.inFlight).toBe(1);

    upstream.release();
    const answers = await Promise.all([first, second]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200]);
    for (const answer of answers) expect((await imagesOf(gateway, answer))[0]?.format).toBe('png');
    expect(upstream.maxInFlight).toBe(1);
    expect(registry.get('limited')?.health).toMatchObject({ in_flight: 0, queued: 0 });
  });

  it('a full channel is skipped for the next one', async () => {
    const upstream = await startKeyedUpstream(['sk-limited-key-0000000000']);
    closers.push(upstream.close);
    const spare = await fake();
    const gateway = await gatewayWith([
      openaiChannel('limited', upstream, { api_key: 'sk-limited-key-0000000000', priority: 1, max_concurrency: 1, max_queue: 0 }),
      openaiChannel('spare', spare),
    ]);
    upstream.hold();
    const first = ask(gateway);
    await waitUntil(() => upstream.inFlight === 1, 'the first request reached the upstream');
    const overflow = await ask(gateway);
    expect(overflow.status).toBe(200);
    expect(spare.imageCalls).toBe(1);
    upstream.release();
    expect((await first).status).toBe(200);
    expect(upstream.maxInFlight).toBe(1);
  });
});
