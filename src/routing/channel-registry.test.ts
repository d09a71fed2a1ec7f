// The channel registry against an in-memory store and recording providers: seeding from the config
// file, run-time changes, masking, routing decisions, key handling, the channel test and resumes.

import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config/load.js';
import { readCatalogFile } from '../config/catalog-file.js';
import type { ChannelConfig } from '../config/schema.js';
import { createCatalog } from '../core/catalog/catalog.js';
import { GatewayError } from '../core/errors.js';
import type { ChannelRecord } from '../core/ports/channel-store.js';
import { manualClock } from '../core/ports/clock.js';
import type { HttpClient } from '../core/ports/http-client.js';
import type { ImageCallOptions, ImageModel, ImageModelFactory } from '../core/ports/image-model.js';
import type { ModelRoute } from '../core/ports/model-router.js';
import { makeTestImage } from '../testing/fakes/shared.js';
import { MemoryChannelStore } from '../testing/memory-channel-store.js';
import { seededRandom } from './channel-order.js';
import { createChannelRegistry, type ChannelRegistry } from './channel-registry.js';

const catalog = createCatalog(readCatalogFile());
const model = (id: string) => {
  const resolved = catalog.get(id);
  if (resolved === undefined) throw new Error(`no ${id}`);
  return resolved.model;
};

interface Recorder {
  /** Keys each provider was built with, in order. */
  built: Array<{ channel: string; apiKey: string }>;
  /** Calls made: channel, key, upstream model. */
  calls: Array<{ channel: string; apiKey: string; model: string }>;
  logs: Array<{ level: string; details: Record<string, unknown>; message: string }>;
  /** What a channel's calls do: by channel name, a queue of errors (empty: succeed). */
  failures: Record<string, GatewayError[]>;
}

function recordingProvider(recorder: Recorder) {
  return (channel: ChannelRecord, apiKey: string): ImageModelFactory => {
    if (channel.options['explode'] === true) throw new TypeError(`channel ${channel.name}: options.explode is not allowed`);
    recorder.built.push({ channel: channel.name, apiKey });
    return (upstreamModel): ImageModel => ({
      specificationVersion: 'v1',
      provider: channel.provider,
      modelId: upstreamModel,
      maxImagesPerCall: 4,
      operations: ['generate'],
      async generate(options: ImageCallOptions) {
        recorder.calls.push({ channel: channel.name, apiKey, model: options.model });
        const failure = recorder.failures[channel.name]?.shift();
        if (failure !== undefined) throw failure;
        return { images: [{ kind: 'bytes', data: await makeTestImage(8, 8) }], warnings: [] };
      },
      async resume(job, options) {
        recorder.calls.push({ channel: channel.name, apiKey, model: `resume:${options.model}:${String(job.data['id'])}` });
        return { images: [{ kind: 'bytes', data: await makeTestImage(8, 8) }], warnings: [] };
      },
    });
  };
}

const unusedHttp: HttpClient = {
  request: () => Promise.reject(new Error('no network in this test')),
};

async function setup(seed: ChannelConfig[] = [], store = new MemoryChannelStore(), clock = manualClock(1_700_000_000_000)) {
  const recorder: Recorder = { built: [], calls: [], logs: [], failures: {} };
  const log = (level: string) => (details: object, message: string) => recorder.logs.push({ level, details: details as Record<string, unknown>, message });
  const registry = await createChannelRegistry({
    store,
    catalog,
    clock,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    routing: { maxAttempts: 3, breakerFailureThreshold: 2, breakerCooldownMs: 60_000 },
    buildProvider: recordingProvider(recorder),
    fallback: recordingProvider(recorder)({ name: 'offline', provider: 'offline', options: {} } as unknown as ChannelRecord, ''),
    seed,
    random: seededRandom(1),
    http: unusedHttp,
  });
  return { registry, recorder, store, clock };
}

/** One generation through the registry's router, the way the image use case calls it. */
async function route(registry: ChannelRegistry, modelId: string, resume?: { channel: string; key?: number }) {
  return registry.run(model(modelId), { operation: 'generate', images: 1, signal: new AbortController().signal, ...(resume ? { resume } : {}) }, async (routeTaken: ModelRoute) => {
    const result = await routeTaken.imageModel.generate({
      model: routeTaken.imageModel.modelId,
      prompt: 'x',
      n: 1,
      size: { width: 8, height: 8 },
      aspectRatio: '1:1',
      outputFormat: 'png',
      providerOptions: {},
      images: [],
      abortSignal: new AbortController().signal,
    });
    return result.images.length;
  });
}

const openaiChannel = (name: string, overrides: Partial<ChannelConfig> = {}): ChannelConfig => ({
  name,
  provider: 'openai',
  base_url: `http://127.0.0.1:1/${name}/v1`,
  api_key: `sk-${name}-secret-key-0123456789`,
  models: ['gpt-image-1'],
  ...overrides,
});

describe('seeding from the config file', () => {
  it('stores the file’s channels and shows them with masked keys', async () => {
    const { registry, store } = await setup([openaiChannel('alpha', { api_key: undefined, api_keys: ['sk-first-key-abcdefgh1234', 'sk-second-key-abcdefgh5678'] })]);
    const view = registry.get('alpha');
    expect(view?.api_keys).toEqual(['sk-…1234', 'sk-…5678']);
    expect(JSON.stringify(registry.list())).not.toContain('abcdefgh');
    expect(view).toMatchObject({ source: 'config', enabled: true, priority: 0, weight: 1, health: { circuit: 'closed', in_flight: 0, rejected_keys: [] } });
    expect((await store.get('alpha'))?.apiKeys).toEqual(['sk-first-key-abcdefgh1234', 'sk-second-key-abcdefgh5678']);
    expect(registry.get('nope')).toBeUndefined();
  });

  it('keeps run-time edits across a restart while the file is unchanged; a changed file wins', async () => {
    const store = new MemoryChannelStore();
    const file = [openaiChannel('alpha'), openaiChannel('beta')];
    const first = await setup(file, store);
    await first.registry.update('alpha', { priority: 7 });
    await first.registry.disable('beta');

    const second = await setup(file, store);
    expect(second.registry.get('alpha')?.priority).toBe(7);
    expect(second.registry.get('beta')).toMatchObject({ enabled: false, disabled_reason: 'admin' });

    const third = await setup([openaiChannel('alpha', { weight: 4 }), openaiChannel('beta')], store);
    expect(third.registry.get('alpha')).toMatchObject({ priority: 0, weight: 4 });
    expect(third.registry.get('beta')?.enabled).toBe(false);
  });

  it('removes channels that left the file but keeps those created at run time', async () => {
    const store = new MemoryChannelStore();
    const first = await setup([openaiChannel('alpha'), openaiChannel('gone')], store);
    await first.registry.create(openaiChannel('runtime'));
    const second = await setup([openaiChannel('alpha')], store);
    expect(second.registry.list().map((channel) => channel.name)).toEqual(['alpha', 'runtime']);
  });

  it('refuses to start on a broken channel, naming it and the problem', async () => {
    const cases: Array<[ChannelConfig[], RegExp]> = [
      [[openaiChannel('alpha', { models: ['no-such-model'] })], /channels\[0\] \(alpha\).*no-such-model/],
      [[openaiChannel('alpha', { api_keys: ['sk-another-one-123456789'] })], /alpha.*either 'api_key' or 'api_keys'/],
      [[openaiChannel('alpha'), openaiChannel('alpha')], /channels\[1\] \(alpha\).*used twice/],
      [[openaiChannel('alpha', { options: { explode: true } })], /alpha.*options\.explode/],
      [[openaiChannel('alpha', { model_map: { 'dall-e-3': 'x' } })], /alpha.*maps model 'dall-e-3'/],
    ];
    for (const [seed, message] of cases) {
      const error = await setup(seed).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
    }
  });
});

describe('run-time changes', () => {
  it('creates a channel that serves the next request; rejects a bad or duplicate one', async () => {
    const { registry, recorder } = await setup();
    expect(registry.describe('gpt-image-1')).toEqual({ provider: 'offline', channel: 'offline', routed: true });
    const created = await registry.create(openaiChannel('fresh', { max_concurrency: 2 }));
    expect(created).toMatchObject({ name: 'fresh', source: 'admin', max_concurrency: 2, api_keys: ['sk-…6789'] });
    expect((await route(registry, 'gpt-image-1')).route.channel).toBe('fresh');
    expect(recorder.calls.at(-1)).toEqual({ channel: 'fresh', apiKey: 'sk-fresh-secret-key-0123456789', model: 'gpt-image-1' });

    const duplicate = (await registry.create(openaiChannel('fresh')).catch((caught: unknown) => caught)) as GatewayError;
    expect([duplicate.code, duplicate.status]).toEqual(['conflict', 409]);
    const invalid = (await registry.create({ ...openaiChannel('bad'), weight: -1 }).catch((caught: unknown) => caught)) as GatewayError;
    expect([invalid.code, invalid.param]).toEqual(['invalid_value', 'weight']);
    const badName = (await registry.create(openaiChannel('no spaces')).catch((caught: unknown) => caught)) as GatewayError;
    expect(badName.param).toBe('name');
    const unknownModel = (await registry.create(openaiChannel('bad', { models: ['nope'] })).catch((caught: unknown) => caught)) as GatewayError;
    expect([unknownModel.code, unknownModel.param]).toEqual(['invalid_value', 'models']);
    const badOptions = (await registry.create(openaiChannel('bad', { options: { explode: true } })).catch((caught: unknown) => caught)) as GatewayError;
    expect(badOptions.message).toContain('options.explode');
    expect(registry.list().map((channel) => channel.name)).toEqual(['fresh']);
  });

  it('updates a channel in place: new keys are used at once, masked keys sent back keep the real ones, null clears', async () => {
    const { registry, recorder, store } = await setup([openaiChannel('alpha', { max_concurrency: 3 })]);
    await registry.update('alpha', { api_keys: ['sk-…6789', 'sk-brand-new-key-000011112222'], max_concurrency: null });
    expect((await store.get('alpha'))?.apiKeys).toEqual(['sk-alpha-secret-key-0123456789', 'sk-brand-new-key-000011112222']);
    expect(registry.get('alpha')?.max_concurrency).toBeNull();
    await route(registry, 'gpt-image-1');
    await route(registry, 'gpt-image-1');
    expect(recorder.calls.map((call) => call.apiKey)).toEqual(['sk-alpha-secret-key-0123456789', 'sk-brand-new-key-000011112222']);

    const renamed = (await registry.update('alpha', { name: 'beta' }).catch((caught: unknown) => caught)) as GatewayError;
    expect(renamed.param).toBe('name');
    const missing = (await registry.update('ghost', { weight: 2 }).catch((caught: unknown) => caught)) as GatewayError;
    expect(missing.code).toBe('not_found');
  });

  it('disables and enables, and removes only channels created at run time', async () => {
    const { registry, store } = await setup([openaiChannel('from-file')]);
    await registry.create(openaiChannel('runtime', { priority: 5 }));
    expect(registry.describe('gpt-image-1').channel).toBe('runtime');
    await registry.disable('runtime');
    expect(registry.describe('gpt-image-1').channel).toBe('from-file');
    expect((await store.get('runtime'))?.disabledReason).toBe('admin');
    await registry.enable('runtime');
    expect(registry.describe('gpt-image-1').channel).toBe('runtime');

    const refused = (await registry.remove('from-file').catch((caught: unknown) => caught)) as GatewayError;
    expect(refused.code).toBe('conflict');
    await registry.remove('runtime');
    expect(await store.get('runtime')).toBeUndefined();
    expect(registry.list().map((channel) => channel.name)).toEqual(['from-file']);
  });
});

describe('routing', () => {
  it('uses the offline engine for every model only while no channel exists; then only the channels that list a model serve it', async () => {
    const empty = await setup();
    expect((await route(empty.registry, 'dall-e-3')).route.channel).toBe('offline');
    expect(empty.registry.describe('dall-e-3')).toEqual({ provider: 'offline', channel: 'offline', routed: true });

    const { registry } = await setup([openaiChannel('alpha')]);
    const unrouted = (await route(registry, 'dall-e-3').catch((caught: unknown) => caught)) as GatewayError;
    expect([unrouted.code, unrouted.status, unrouted.param]).toEqual(['model_not_available', 404, 'model']);
    expect(registry.describe('dall-e-3')).toEqual({ provider: 'none', channel: 'none', routed: false });
    await registry.disable('alpha');
    const error = (await route(registry, 'gpt-image-1').catch((caught: unknown) => caught)) as GatewayError;
    expect([error.code, error.status]).toEqual(['service_unavailable', 503]);
    expect(registry.describe('gpt-image-1')).toEqual({ provider: 'none', channel: 'none', routed: true });
  });

  it('says when a model_map serves the model with another upstream model', async () => {
    const { registry, recorder } = await setup([openaiChannel('alpha', { models: ['gpt-image-1'], model_map: { 'gpt-image-1': 'my-finetune' } })]);
    const result = await route(registry, 'gpt-image-1');
    expect(result.warnings).toEqual(["model: gpt-image-1 was served by the upstream model 'my-finetune'"]);
    expect(recorder.calls[0]?.model).toBe('my-finetune');
    expect(registry.routes(model('gpt-image-1'))).toEqual([
      { channel: 'alpha', provider: 'openai', upstreamModel: 'my-finetune', priority: 0, weight: 1, circuit: 'closed' },
    ]);
  });

  it('disables a channel whose only key is refused, logging the channel and never the key', async () => {
    const { registry, recorder, store } = await setup([openaiChannel('alpha', { priority: 1 }), openaiChannel('beta')]);
    recorder.failures['alpha'] = [new GatewayError('upstream_auth_failed', 'credentials rejected')];
    const result = await route(registry, 'gpt-image-1');
    expect([result.route.channel, result.attempts]).toEqual(['beta', 2]);
    expect(registry.get('alpha')).toMatchObject({ enabled: false, disabled_reason: 'upstream_auth_failed' });
    expect((await store.get('alpha'))?.enabled).toBe(false);
    const event = recorder.logs.find((log) => log.details['event'] === 'channel_disabled');
    expect(event?.details).toMatchObject({ channel: 'alpha', reason: 'upstream_auth_failed' });
    expect(JSON.stringify(recorder.logs)).not.toContain('secret-key');
  });

  it('skips a refused key and keeps the channel while another key works', async () => {
    const keys = ['sk-refused-000000000001', 'sk-good-one-000000000002', 'sk-good-two-000000000003'];
    const { registry, recorder } = await setup([openaiChannel('alpha', { api_key: undefined, api_keys: keys })]);
    recorder.failures['alpha'] = [new GatewayError('upstream_auth_failed', 'x')];
    await route(registry, 'gpt-image-1');
    for (let index = 0; index < 4; index += 1) await route(registry, 'gpt-image-1');
    // The refused first key is retried on the same channel with the next key, then never used again.
    expect(recorder.calls.map((call) => keys.indexOf(call.apiKey))).toEqual([0, 1, 2, 1, 2, 1]);
    expect(registry.get('alpha')).toMatchObject({ enabled: true, health: { rejected_keys: [0] } });
  });

  it('resumes a job on the channel and key that accepted it, even when that channel is disabled', async () => {
    const keys = ['sk-key-number-zero-0000', 'sk-key-number-one-11111'];
    const { registry, recorder } = await setup([openaiChannel('alpha', { api_key: undefined, api_keys: keys }), openaiChannel('beta', { priority: 9 })]);
    await registry.disable('alpha');
    const result = await route(registry, 'gpt-image-1', { channel: 'alpha', key: 1 });
    expect([result.route.channel, result.route.key]).toEqual(['alpha', 1]);
    expect(recorder.calls).toEqual([{ channel: 'alpha', apiKey: keys[1], model: 'gpt-image-1' }]);
    const gone = (await route(registry, 'gpt-image-1', { channel: 'deleted' }).catch((caught: unknown) => caught)) as GatewayError;
    expect([gone.code, gone.retryable]).toEqual(['upstream_error', false]);
  });
});

describe('test()', () => {
  it('runs one small generation and reports ok, the format and the latency', async () => {
    const { registry, recorder } = await setup([openaiChannel('alpha', { models: ['dall-e-2', 'gpt-image-1'] })]);
    const result = await registry.test('alpha');
    // OpenAI shut dall-e-2 down: the catalog's successor serves it on an openai channel.
    expect(result).toMatchObject({ ok: true, channel: 'alpha', model: 'dall-e-2', upstream_model: 'gpt-image-2', format: 'png' });
    expect(result.latency_ms).toBeGreaterThanOrEqual(0);
    expect(recorder.calls).toHaveLength(1);
  });

  it('reports the upstream error without touching the channel’s health or state', async () => {
    const { registry, recorder } = await setup([openaiChannel('alpha')]);
    recorder.failures['alpha'] = [new GatewayError('upstream_auth_failed', 'credentials rejected')];
    const result = await registry.test('alpha', 'gpt-image-1');
    expect(result).toMatchObject({ ok: false, error: { code: 'upstream_auth_failed', message: 'credentials rejected' } });
    expect(registry.get('alpha')).toMatchObject({ enabled: true, health: { consecutive_failures: 0, rejected_keys: [] } });
  });

  it('refuses a model the channel does not serve and an unknown channel', async () => {
    const { registry } = await setup([openaiChannel('alpha')]);
    expect(((await registry.test('alpha', 'dall-e-3').catch((caught: unknown) => caught)) as GatewayError).param).toBe('model');
    expect(((await registry.test('ghost').catch((caught: unknown) => caught)) as GatewayError).code).toBe('not_found');
  });
});
