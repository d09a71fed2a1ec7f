// Channels managed at run time, over real HTTP: created, changed, disabled and enabled while the
// gateway serves, each change applying to the next request; kept across a restart; tested on demand;
// a model_map announced in the warnings header; keys never shown.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startOpenAIFake, type OpenAIFake } from '../../src/testing/fakes/openai.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import { generate, imagesOf } from './providers-support.js';

let closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.reverse()) await close();
  closers = [];
});

async function fake(apiKey?: string, servesRetiredModels = false): Promise<OpenAIFake> {
  const started = await startOpenAIFake({ ...(apiKey === undefined ? {} : { apiKey }), servesRetiredModels });
  closers.push(started.close);
  return started;
}

function openaiChannel(name: string, upstream: OpenAIFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return { name, provider: 'openai', base_url: `${upstream.url}/v1`, api_key: upstream.apiKey, models: ['gpt-image-1'], ...overrides };
}

const ask = (gateway: TestGateway) => generate(gateway, { model: 'gpt-image-1', prompt: 'a harbour', size: '1024x1024', quality: 'low' });

describe('channels changed while the gateway runs', () => {
  it('create, update, disable and enable each apply to the next request, without a restart', async () => {
    const [fromFile, added] = [await fake(), await fake()];
    const gateway = await startTestGateway({ channels: [openaiChannel('from-file', fromFile)] });
    closers.push(gateway.close);
    const registry = gateway.gateway.router;

    expect((await ask(gateway)).status).toBe(200);
    expect([fromFile.imageCalls, added.imageCalls]).toEqual([1, 0]);

    await registry.create(openaiChannel('added', added, { priority: 5 }));
    expect((await ask(gateway)).status).toBe(200);
    expect([fromFile.imageCalls, added.imageCalls]).toEqual([1, 1]);

    await registry.update('added', { priority: -5 });
    expect((await ask(gateway)).status).toBe(200);
    expect([fromFile.imageCalls, added.imageCalls]).toEqual([2, 1]);

    await registry.disable('from-file');
    expect((await ask(gateway)).status).toBe(200);
    expect([fromFile.imageCalls, added.imageCalls]).toEqual([2, 2]);

    await registry.disable('added');
    const none = await ask(gateway);
    expect(none.status).toBe(503);
    expect(none.body.error?.code).toBe('service_unavailable');

    await registry.enable('from-file');
    expect((await ask(gateway)).status).toBe(200);
    expect([fromFile.imageCalls, added.imageCalls]).toEqual([3, 2]);
  });

  it('a changed key or base URL is used at once: a channel fixed at run time serves again', async () => {
    const [broken, working] = [await fake(), await fake('sk-the-right-key-000000000000')];
    const gateway = await startTestGateway({ channels: [openaiChannel('moving', broken, { api_key: 'sk-stale-key-0000000000000' })] });
    closers.push(gateway.close);
    const registry = gateway.gateway.router;

    const refused = await ask(gateway);
    expect(refused.status).toBe(502);
    expect(refused.body.error?.code).toBe('upstream_auth_failed');
    expect(registry.get('moving')?.disabled_reason).toBe('upstream_auth_failed');

    await registry.update('moving', { base_url: `${working.url}/v1`, api_key: 'sk-the-right-key-000000000000', enabled: true });
    expect((await ask(gateway)).status).toBe(200);
    expect(working.imageCalls).toBe(1);
    expect(working.requests.at(-1)?.headers['authorization']).toBe('Bearer sk-the-right-key-000000000000');
  });

  it('channels created at run time survive a restart; the file’s channels keep their run-time edits', async () => {
    const [fromFile, added] = [await fake(), await fake()];
    const dataDir = await mkdtemp(join(tmpdir(), 'imagegate-routing-'));
    closers.push(() => rm(dataDir, { recursive: true, force: true }));
    const config = { dataDir, channels: [openaiChannel('from-file', fromFile)] };

    const first = await startTestGateway(config);
    await first.gateway.router.create(openaiChannel('added', added, { priority: 3 }));
    await first.gateway.router.update('from-file', { weight: 9 });
    await first.close();

    const second = await startTestGateway(config);
    closers.push(second.close);
    expect(second.gateway.router.list().map((channel) => [channel.name, channel.source, channel.weight])).toEqual([
      ['added', 'admin', 1],
      ['from-file', 'config', 9],
    ]);
    expect((await ask(second)).status).toBe(200);
    expect(added.imageCalls).toBe(1);
  });

  it('a channel added at run time on a private address is reachable like one from the file, with private networks otherwise closed', async () => {
    const upstream = await fake();
    const gateway = await startTestGateway({ allowPrivateNetworks: false, channels: [] });
    closers.push(gateway.close);
    await gateway.gateway.router.create(openaiChannel('local', upstream));
    expect((await ask(gateway)).status).toBe(200);
    expect(upstream.imageCalls).toBe(1);
  });

  it('never shows a channel key, and a model_map is announced in the warnings header', async () => {
    const upstream = await fake();
    const gateway = await startTestGateway({
      channels: [openaiChannel('mapped', upstream, { model_map: { 'gpt-image-1': 'gpt-image-2-2026-04-21' } })],
    });
    closers.push(gateway.close);

    const answer = await ask(gateway);
    expect(answer.status).toBe(200);
    expect((await imagesOf(gateway, answer))[0]?.width).toBe(1024);
    expect(answer.headers.get('x-imagegate-warnings')).toContain("gpt-image-1 was served by the upstream model 'gpt-image-2-2026-04-21'");
    expect((upstream.requests.at(-1)?.json as { model?: string }).model).toBe('gpt-image-2-2026-04-21');

    const listed = JSON.stringify(gateway.gateway.router.list());
    expect(listed).not.toContain(upstream.apiKey);
    expect(gateway.gateway.router.get('mapped')?.api_keys).toEqual([`${upstream.apiKey.slice(0, 3)}…${upstream.apiKey.slice(-4)}`]);
  });
});

describe('testing a channel', () => {
  it('reports ok with a real small generation, and the upstream error when it fails, without disabling anything', async () => {
    // A relay that still serves dall-e-2, the catalog's cheapest model to test with.
    const upstream = await fake(undefined, true);
    const gateway = await startTestGateway({ channels: [openaiChannel('checked', upstream, { models: ['dall-e-2', 'gpt-image-1'], options: { serves_retired_models: true } })] });
    closers.push(gateway.close);
    const registry = gateway.gateway.router;

    const ok = await registry.test('checked');
    expect(ok).toMatchObject({ ok: true, channel: 'checked', model: 'dall-e-2', format: 'png' });
    // The cheapest size was asked for.
    expect(upstream.requests.at(-1)?.json).toMatchObject({ model: 'dall-e-2', n: 1, size: '256x256' });

    upstream.switches.failStatus = 503;
    const failed = await registry.test('checked', 'gpt-image-1');
    expect(failed).toMatchObject({ ok: false, error: { code: 'upstream_error' } });
    expect(registry.get('checked')).toMatchObject({ enabled: true, health: { circuit: 'closed', consecutive_failures: 0 } });
  });
});
