// The Replicate-compatible API driven by the official `replicate` npm client pointed at the gateway
// (`new Replicate({ auth, baseUrl })`): run, predictions.create + wait, get, cancel, list, and webhooks
// checked with the SDK's own validateWebhook. On the offline engine and on a Replicate channel (the
// Replicate fake), including a restart in the middle of a prediction.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Replicate, { validateWebhook } from 'replicate';
import { replicateFakeDefaultApiKey, startReplicateFake, type ReplicateFake } from '../../src/testing/fakes/replicate.js';
import { startTestGateway, type TestGateway } from '../../src/testing/gateway-harness.js';
import type { ChannelConfig } from '../../src/config/schema.js';
import { createKey, startBillingGateway } from './billing-support.js';
import { eventually, fetchImage, json, startReceiver, type Receiver } from './dialects-support.js';
import { queryDatabase } from './task-helpers.js';

let gateway: TestGateway;
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
  // A little latency, so a prediction can be seen before it ends.
  gateway = await startBillingGateway({ offlineLatencyMs: 300 });
});
afterAll(async () => {
  await gateway.close();
  await receiver.close();
});

function client(auth: string, target: TestGateway = gateway): Replicate {
  return new Replicate({ auth, baseUrl: `${target.url}/replicate/v1`, useFileOutput: false });
}

describe('the replicate SDK against the gateway (offline engine)', () => {
  it('replicate.run returns gateway-hosted images in flux-schnell\'s list shape, in the asked ratio and format; charged once', async () => {
    const { id: keyId, secret } = await createKey(gateway, { quota_usd: '1' });
    const output = (await client(secret).run('black-forest-labs/flux-schnell', { input: { prompt: 'a red fox', num_outputs: 2, aspect_ratio: '16:9', output_format: 'png' } })) as string[];
    expect(output).toHaveLength(2);
    for (const url of output) {
      expect(url.startsWith(`${gateway.url}/v1/files/`)).toBe(true);
      const image = await fetchImage(url);
      expect(image.format).toBe('png');
      expect((image.width ?? 0) / (image.height ?? 1)).toBeCloseTo(16 / 9, 1);
    }
    const account = await gateway.gateway.billing.account(keyId);
    expect(account.held).toBe(0);
    expect(account.charged).toBeGreaterThan(0);
    expect(queryDatabase<{ n: number }>(gateway.dataDir, 'SELECT COUNT(*) AS n FROM billing_usage WHERE key_id = ?', keyId)[0]?.n).toBe(1);
  });

  it('predictions.create answers the prediction object; wait and get see it succeed; a single-output model answers one URL', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const replicate = client(secret);
    const created = await replicate.predictions.create({ model: 'black-forest-labs/flux-1.1-pro', input: { prompt: 'a harbour', aspect_ratio: 'custom', width: 1024, height: 768, safety_tolerance: 3 } });
    expect(created).toMatchObject({
      model: 'black-forest-labs/flux-1.1-pro',
      version: null,
      input: { prompt: 'a harbour', aspect_ratio: 'custom', width: 1024, height: 768, safety_tolerance: 3 },
      status: 'starting',
      output: null,
      error: null,
      logs: '',
      data_removed: false,
      urls: { get: `${gateway.url}/replicate/v1/predictions/${created.id}`, cancel: `${gateway.url}/replicate/v1/predictions/${created.id}/cancel` },
    });
    expect(Number.isNaN(Date.parse(created.created_at))).toBe(false);
    const done = await replicate.wait(created, { interval: 50 });
    expect(done.status).toBe('succeeded');
    const fetched = await replicate.predictions.get(created.id);
    expect(fetched.status).toBe('succeeded');
    expect(typeof fetched.output).toBe('string');
    expect(fetched.metrics).toMatchObject({ image_count: 1 });
    expect(typeof fetched.metrics?.predict_time).toBe('number');
    const image = await fetchImage(fetched.output as string);
    // flux-1.1-pro on Replicate answers webp by default.
    expect([image.format, image.width, image.height]).toEqual(['webp', 1024, 768]);
  });

  it('Prefer: wait answers the finished prediction; version-style create with owner/name:version works', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const version = 'a'.repeat(64);
    const prediction = await client(secret).predictions.create({ version: `black-forest-labs/flux-dev:${version}`, input: { prompt: 'a meadow', guidance: 3.5 }, wait: 30 });
    expect(prediction).toMatchObject({ status: 'succeeded', model: 'black-forest-labs/flux-dev', version });
    expect(prediction.output).toHaveLength(1);
  });

  it('cancel stops a running prediction and releases its charge; list shows the key\'s own predictions only', async () => {
    const { id: keyId, secret } = await createKey(gateway, { quota_usd: '1' });
    const replicate = client(secret);
    const first = await replicate.predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'to be canceled' } });
    const canceled = await replicate.predictions.cancel(first.id);
    expect(canceled.status).toBe('canceled');
    expect((await replicate.predictions.get(first.id)).status).toBe('canceled');
    const second = await replicate.predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'kept' }, wait: 30 });
    expect(second.status).toBe('succeeded');

    const other = await createKey(gateway, { quota_usd: '1' });
    await client(other.secret).predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'someone else' } });
    const page = await replicate.predictions.list();
    expect(page.results.map((item) => item.id)).toEqual([second.id, first.id]);
    expect(page.next).toBeNull();
    const account = await gateway.gateway.billing.account(keyId);
    expect(account.held).toBe(0);
    expect(queryDatabase<{ n: number }>(gateway.dataDir, 'SELECT COUNT(*) AS n FROM billing_usage WHERE key_id = ?', keyId)[0]?.n).toBe(1);
    await expect(client(other.secret).predictions.get(first.id)).rejects.toThrow(/404/);
  });

  it('validates input per model: a 422 with invalid_fields the SDK raises as an ApiError', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const tooMany = await json(`${gateway.url}/replicate/v1/models/black-forest-labs/flux-schnell/predictions`, {
      headers: { authorization: `Bearer ${secret}` },
      body: { input: { prompt: 'x', num_outputs: 5 } },
    });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.invalid_fields[0]).toMatchObject({ field: 'num_outputs' });
    expect(tooMany.headers.get('x-request-id')).toBeTruthy();
    await expect(client(secret).predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'x', aspect_ratio: '7:5' } })).rejects.toThrow(/422/);
    await expect(client(secret).predictions.create({ model: 'nobody/nothing', input: { prompt: 'x' } })).rejects.toThrow(/404/);
    // A bare version id: the gateway keeps none, so it answers what api.replicate.com answers for a version it does not have.
    const bare = 'c'.repeat(64);
    await expect(client(secret).predictions.create({ version: bare, input: { prompt: 'x' } })).rejects.toThrow(/422 Unprocessable Entity/);
    const unknownVersion = await json(`${gateway.url}/replicate/v1/predictions`, { headers: { authorization: `Bearer ${secret}` }, body: { version: bare, input: { prompt: 'x' } } });
    expect(unknownVersion.status).toBe(422);
    expect(unknownVersion.body).toMatchObject({ title: 'Invalid version or not permitted', status: 422 });
    expect(unknownVersion.body.detail).toMatch(/^The specified version does not exist \(or perhaps you don't have permission to use it\?\)/);
    expect(unknownVersion.body.invalid_fields).toBeUndefined();
    await expect(client('sk-wrong-key-000000').predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'x' } })).rejects.toThrow(/401/);
  });

  it('delivers the finished prediction to the webhook, signed so the SDK\'s validateWebhook accepts it with the key\'s secret', async () => {
    const { secret } = await createKey(gateway, { quota_usd: '1' });
    const replicate = client(secret);
    const { key: webhookSecret } = await replicate.webhooks.default.secret.get();
    expect(webhookSecret).toMatch(/^whsec_/);
    const created = await replicate.predictions.create({
      model: 'black-forest-labs/flux-schnell',
      input: { prompt: 'a webhook heron' },
      webhook: `${receiver.url}/replicate`,
      webhook_events_filter: ['completed'],
    });
    const delivery = await eventually(async () => receiver.received.find((entry) => entry.path === '/replicate'), 'the webhook');
    const body = JSON.parse(delivery.body);
    expect(body).toMatchObject({ id: created.id, status: 'succeeded', webhook_events_filter: ['completed'], input: { prompt: 'a webhook heron' } });
    expect(body.output[0].startsWith(gateway.url)).toBe(true);
    const headers = new Headers(Object.entries(delivery.headers).map(([name, value]) => [name, String(value)]));
    expect(await validateWebhook(new Request('http://receiver/', { method: 'POST', headers, body: delivery.body }), webhookSecret)).toBe(true);
    // Another key's secret does not validate it.
    const other = await createKey(gateway, { quota_usd: '1' });
    const { key: otherSecret } = await client(other.secret).webhooks.default.secret.get();
    expect(await validateWebhook(new Request('http://receiver/', { method: 'POST', headers, body: delivery.body }), otherSecret)).toBe(false);
  });
});

describe('the replicate SDK against a Replicate channel', () => {
  let fake: ReplicateFake;
  let upstreamGateway: TestGateway;
  const channel = (url: string): ChannelConfig => ({
    name: 'replicate',
    provider: 'replicate',
    base_url: `${url}/v1`,
    api_key: replicateFakeDefaultApiKey,
    models: ['flux-schnell'],
    model_map: { 'flux-schnell': 'black-forest-labs/flux-schnell' },
    poll_interval_ms: 20,
  });

  let dataDir: string;

  beforeAll(async () => {
    fake = await startReplicateFake();
    // Our own data dir: the restart below starts a second gateway on it.
    dataDir = await mkdtemp(join(tmpdir(), 'imagegate-replicate-dialect-'));
    upstreamGateway = await startTestGateway({ dataDir, channels: [channel(fake.url)] });
  });
  afterAll(async () => {
    await upstreamGateway.close();
    await fake.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('passes the client\'s input to Replicate with its own values and re-hosts the outputs', async () => {
    const input = { prompt: 'a lantern', num_outputs: 2, aspect_ratio: '4:5', output_format: 'jpg', output_quality: 70, go_fast: false, num_inference_steps: 3, seed: 7 };
    const output = (await client(upstreamGateway.apiKey, upstreamGateway).run('black-forest-labs/flux-schnell', { input })) as string[];
    expect(output).toHaveLength(2);
    const upstream = [...fake.predictions.values()].at(-1);
    expect(upstream?.input).toEqual(input);
    for (const url of output) {
      expect(url.startsWith(upstreamGateway.url)).toBe(true);
      expect((await fetchImage(url)).format).toBe('jpeg');
    }
  });

  it('a restart in the middle of a prediction resumes the same upstream prediction: one submission, one charge', async () => {
    fake.switches.pollsBeforeReady = 40;
    const before = fake.submissions;
    const created = await client(upstreamGateway.apiKey, upstreamGateway).predictions.create({ model: 'black-forest-labs/flux-schnell', input: { prompt: 'across a restart' } });
    await eventually(async () => {
      const [row] = queryDatabase<{ upstream_job: string | null }>(upstreamGateway.dataDir, 'SELECT upstream_job FROM tasks WHERE id = ?', created.id);
      return row?.upstream_job ?? undefined;
    }, 'the upstream job to be recorded');
    await upstreamGateway.close();
    fake.switches.pollsBeforeReady = 1;
    upstreamGateway = await startTestGateway({ dataDir, channels: [channel(fake.url)] });
    const done = await client(upstreamGateway.apiKey, upstreamGateway).wait(created, { interval: 50 });
    expect(done.status).toBe('succeeded');
    expect(fake.submissions - before).toBe(1);
    const reservations = queryDatabase<{ status: string }>(dataDir, 'SELECT status FROM billing_reservations WHERE id = ?', created.id);
    expect(reservations.map((row) => row.status)).toEqual(['settled']);
    expect(queryDatabase<{ n: number }>(dataDir, 'SELECT COUNT(*) AS n FROM billing_usage WHERE reservation_id = ?', created.id)[0]?.n).toBe(1);
  });
});
