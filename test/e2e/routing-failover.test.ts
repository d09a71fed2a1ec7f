// Failover over real HTTP: two upstream fakes as two channels of one model. A 503 moves the request
// on, the breaker stops calling a failing channel and recovers after a probe, a refused key disables
// its channel, moderation is neither retried nor held against the channel, and an accepted async
// job is never submitted twice.

import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { manualClock } from '../../src/core/ports/clock.js';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { generate, imagesOf } from './providers-support.js';
import { capturingLogger } from './routing-support.js';

const cooldownMs = 30_000;
const threshold = 3;

let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

function openaiChannel(name: string, fake: OpenAIFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return { name, provider: 'openai', base_url: `${fake.url}/v1`, api_key: fake.apiKey, models: ['gpt-image-1'], ...overrides };
}

/** Two OpenAI fakes: `primary` preferred (priority 10), `backup` behind it. */
async function twoChannels(primaryOverrides: Partial<ChannelConfig> = {}) {
  const primary = await startOpenAIFake();
  const backup = await startOpenAIFake();
  const clock = manualClock(Date.now());
  const log = capturingLogger();
  const gateway = await startTestGateway(
    {
      channels: [openaiChannel('primary', primary, { priority: 10, ...primaryOverrides }), openaiChannel('backup', backup)],
      routing: { maxAttempts: 3, breakerFailureThreshold: threshold, breakerCooldownMs: cooldownMs },
    },
    { clock, logger: log.logger },
  );
  closers.push(primary.close, backup.close, gateway.close);
  const imageCallsTo = (fake: OpenAIFake) => fake.requests.filter((request) => request.path.startsWith('/v1/images/')).length;
  return { primary, backup, clock, log, gateway, registry: gateway.gateway.router, imageCallsTo };
}

const ask = (gateway: TestGateway) => generate(gateway, { model: 'gpt-image-1', prompt: 'a lighthouse', size: '1024x1024', quality: 'low' });

describe('failover between channels', () => {
  it('a channel answering 503 fails over to a healthy one and the client gets 200 with an image', async () => {
    const { primary, backup, gateway, imageCallsTo } = await twoChannels();
    primary.switches.failStatus = 503;
    const answer = await ask(gateway);
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['png', 1024, 1024]);
    expect(imageCallsTo(primary)).toBe(1);
    expect(backup.imageCalls).toBe(1);
  });

  it('when every channel fails the client gets the upstream error, after max_attempts at most', async () => {
    const { primary, backup, gateway, imageCallsTo } = await twoChannels();
    primary.switches.failStatus = 503;
    backup.switches.failStatus = 500;
    const answer = await ask(gateway);
    expect(answer.status).toBe(502);
    expect(answer.body.error?.code).toBe('upstream_error');
    expect([imageCallsTo(primary), imageCallsTo(backup)]).toEqual([1, 1]);
  });
});

describe('circuit breaker', () => {
  it(`opens after ${threshold} failures, goes half-open after the cool-down and closes after a successful probe`, async () => {
    const { primary, backup, clock, gateway, registry, imageCallsTo } = await twoChannels();
    primary.switches.failStatus = 503;
    for (let index = 0; index < threshold; index += 1) expect((await ask(gateway)).status).toBe(200);
    expect(imageCallsTo(primary)).toBe(threshold);
    expect(registry.get('primary')?.health).toMatchObject({ circuit: 'open', consecutive_failures: threshold });

    // Open: the failing fake stops receiving calls; the backup serves everything.
    for (let index = 0; index < 4; index += 1) expect((await ask(gateway)).status).toBe(200);
    expect(imageCallsTo(primary)).toBe(threshold);
    expect(backup.imageCalls).toBe(threshold + 4);

    clock.advance(cooldownMs);
    expect(registry.get('primary')?.health.circuit).toBe('half_open');
    delete primary.switches.failStatus;
    expect((await ask(gateway)).status).toBe(200);
    expect(primary.imageCalls).toBe(1);
    expect(registry.get('primary')?.health).toMatchObject({ circuit: 'closed', consecutive_failures: 0 });

    // Closed again: the preferred channel takes the traffic back.
    expect((await ask(gateway)).status).toBe(200);
    expect(primary.imageCalls).toBe(2);
  });

  it('re-opens when the probe fails, for another whole cool-down', async () => {
    const { primary, clock, gateway, registry, imageCallsTo } = await twoChannels();
    primary.switches.failStatus = 503;
    for (let index = 0; index < threshold; index += 1) await ask(gateway);
    clock.advance(cooldownMs);
    expect((await ask(gateway)).status).toBe(200);
    expect(imageCallsTo(primary)).toBe(threshold + 1);
    expect(registry.get('primary')?.health.circuit).toBe('open');
    clock.advance(cooldownMs - 1);
    await ask(gateway);
    expect(imageCallsTo(primary)).toBe(threshold + 1);
  });

  it('with every channel open the client gets 503 with retry-after, and no upstream is called', async () => {
    const { primary, backup, gateway, imageCallsTo } = await twoChannels();
    primary.switches.failStatus = 503;
    backup.switches.failStatus = 503;
    // Each request tries both channels: after `threshold` requests both circuits are open.
    for (let index = 0; index < threshold; index += 1) expect((await ask(gateway)).status).toBe(502);
    const before = [imageCallsTo(primary), imageCallsTo(backup)];
    const answer = await ask(gateway);
    expect(answer.status).toBe(503);
    expect(answer.body.error?.code).toBe('service_unavailable');
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0);
    expect([imageCallsTo(primary), imageCallsTo(backup)]).toEqual(before);
  });
});

describe('upstream auth failures', () => {
  it('a 401 disables the channel, names it (not the key) in the log, and the request succeeds on the next', async () => {
    const wrongKey = 'sk-wrong-key-for-primary-9876543210';
    const { primary, backup, gateway, registry, log, imageCallsTo } = await twoChannels({ api_key: wrongKey });
    const answer = await ask(gateway);
    expect(answer.status).toBe(200);
    expect(backup.imageCalls).toBe(1);
    expect(registry.get('primary')).toMatchObject({ enabled: false, disabled_reason: 'upstream_auth_failed' });

    const event = log.lines.find((line) => line['event'] === 'channel_disabled');
    expect(event).toMatchObject({ channel: 'primary', reason: 'upstream_auth_failed' });
    expect(log.text()).not.toContain(wrongKey);
    expect(answer.text).not.toContain(wrongKey);

    // Disabled: no further calls reach it.
    expect((await ask(gateway)).status).toBe(200);
    expect(imageCallsTo(primary)).toBe(1);
    expect(backup.imageCalls).toBe(2);
  });
});

describe('moderation', () => {
  it('is not retried on another channel and does not count against the channel', async () => {
    const { primary, gateway, registry, imageCallsTo, backup } = await twoChannels();
    primary.switches.moderation = 'input';
    for (let index = 0; index < threshold + 1; index += 1) {
      const answer = await ask(gateway);
      expect(answer.status).toBe(400);
      expect(answer.body.error?.code).toBe('moderation_blocked');
    }
    expect(imageCallsTo(primary)).toBe(threshold + 1);
    expect(imageCallsTo(backup)).toBe(0);
    expect(registry.get('primary')?.health).toMatchObject({ circuit: 'closed', consecutive_failures: 0 });
  });
});

describe('an accepted asynchronous job', () => {
  it('is not resubmitted elsewhere when the connection to the upstream that accepted it then fails', async () => {
    const accepting = await startBflFake({ switches: { pollsBeforeReady: 1_000 } });
    const healthy = await startBflFake();
    const bfl = (name: string, fake: BflFake, priority: number): ChannelConfig => ({
      name,
      provider: 'bfl',
      base_url: fake.url,
      api_key: bflFakeApiKey,
      models: ['flux-dev'],
      priority,
      poll_interval_ms: 10,
      timeout_ms: 20_000,
    });
    const gateway = await startTestGateway({ channels: [bfl('accepting', accepting, 10), bfl('healthy', healthy, 0)] });
    closers.push(accepting.close, healthy.close, gateway.close);

    const pending = generate(gateway, { model: 'flux-dev', prompt: 'a mountain lake', size: '1024x768', response_format: 'b64_json' });
    const started = Date.now();
    while (accepting.polls < 2 && Date.now() - started < 10_000) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(accepting.submissions).toBe(1);
    // The job is running upstream; now the gateway loses the upstream altogether.
    await accepting.close();

    const answer = await pending;
    expect(answer.status).toBe(502);
    expect(answer.body.error?.code).toBe('upstream_error');
    expect(accepting.submissions).toBe(1);
    expect(healthy.submissions).toBe(0);
    expect(healthy.requests).toHaveLength(0);
  });
});
