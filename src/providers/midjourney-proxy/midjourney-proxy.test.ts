// The midjourney-proxy adapter against the midjourney-proxy fake through the real guarded client:
// imagine and a pressed button, the job recorded at once and again with the buttons, resume without
// resubmitting, one batched list-by-condition for several tasks, and each failure (code 24, 23, 4,
// FAILURE, a stuck task, an expired image link, a malformed answer, auth).

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, UpstreamJobRef } from '../../core/ports/image-model.js';
import { startMidjourneyProxyFake } from '../../testing/fakes/midjourney-proxy.js';
import { bytesOf, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createMidjourneyProxyProvider, type MjJobData } from './index.js';

const secret = 'mj-secret-0123456789';
const upstream = useUpstreamFake(() => startMidjourneyProxyFake({ apiSecret: secret }), 'file');

function model(settings: Partial<ProviderSettings> = {}): ImageModel {
  return createMidjourneyProxyProvider({ channel: 'mj-test', baseURL: upstream.fake.url, apiKey: secret, http: upstream.http, pollIntervalMs: 20, ...settings })('midjourney');
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'midjourney', prompt: 'a cat in a garden --ar 16:9 --v 6.1', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

describe('midjourney-proxy imagine and actions', () => {
  it('submits the prompt as sent, records the task id at once, and returns the downloaded 2×2 grid with its buttons recorded', async () => {
    const jobs: UpstreamJobRef[] = [];
    const result = await model().generate(callOptions({ onUpstreamJob: (job) => void jobs.push(job) }));
    const submit = upstream.fake.requests.find((request) => request.path === '/mj/submit/imagine');
    expect(submit?.headers['mj-api-secret']).toBe(secret);
    expect(submit?.json).toEqual({ prompt: 'a cat in a garden --ar 16:9 --v 6.1' });
    const [first, finished] = jobs as [UpstreamJobRef, UpstreamJobRef];
    const id = (first.data as unknown as MjJobData).id;
    expect(id).toMatch(/^\d{16}$/);
    expect(upstream.fake.tasks.get(id)?.status).toBe('SUCCESS');
    expect((finished.data as unknown as MjJobData).buttons?.map((button) => button.label || button.emoji)).toEqual(['U1', 'U2', 'U3', 'U4', '🔄', 'V1', 'V2', 'V3', 'V4']);
    const grid = await sharp(bytesOf(result.images[0])).metadata();
    expect([grid.width, grid.height]).toEqual([512, 288]);
  });

  it('presses an upstream button through /submit/action and returns the upscaled image', async () => {
    const jobs: UpstreamJobRef[] = [];
    await model().generate(callOptions({ onUpstreamJob: (job) => void jobs.push(job) }));
    const data = jobs.at(-1)?.data as unknown as MjJobData;
    const u2 = data.buttons?.find((button) => button.label === 'U2');
    const result = await model().generate(callOptions({ providerOptions: { mj_action: { customId: u2?.customId, taskId: data.id } } }));
    expect(upstream.fake.requests.at(-1)?.path).not.toBe('/mj/submit/imagine');
    const action = upstream.fake.requests.find((request) => request.path === '/mj/submit/action');
    expect(action?.json).toEqual({ customId: u2?.customId, taskId: data.id });
    const upscaled = await sharp(bytesOf(result.images[0])).metadata();
    expect([upscaled.width, upscaled.height]).toEqual([512, 288]);
    expect([...upstream.fake.tasks.values()].some((task) => task.action === 'UPSCALE' && task.index === 2 && task.parentId === data.id)).toBe(true);
  });

  it('adds --ar for a request that asked for a shape by size, and sends image prompts as base64Array', async () => {
    const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#336699' } }).png().toBuffer();
    await model().edit!(callOptions({ prompt: 'a lighthouse', aspectRatio: '3:2', images: [{ data: image, mediaType: 'image/png', width: 64, height: 64 }] }));
    const submit = upstream.fake.requests.filter((request) => request.path === '/mj/submit/imagine').at(-1);
    expect(submit?.json).toEqual({ prompt: 'a lighthouse --ar 3:2', base64Array: [`data:image/png;base64,${image.toString('base64')}`] });
  });

  it('resumes a recorded task by polling it, without submitting again', async () => {
    const jobs: UpstreamJobRef[] = [];
    upstream.fake.switches.pollsBeforeReady = 3;
    const controller = new AbortController();
    const first = model().generate(callOptions({ abortSignal: controller.signal, onUpstreamJob: (job) => { jobs.push(job); controller.abort(new Error('worker stopped')); } }));
    await expect(first).rejects.toThrow('worker stopped');
    const before = upstream.fake.submissions;
    const resumed = await model().resume!(jobs[0]!, callOptions());
    expect(upstream.fake.submissions).toBe(before);
    expect(resumed.images).toHaveLength(1);
  });

  it('polls several tasks in flight with one list-by-condition call per interval', async () => {
    upstream.fake.switches.pollsBeforeReady = 2;
    const calls = upstream.fake.listCalls.length;
    const results = await Promise.all([1, 2, 3].map((index) => model({ pollIntervalMs: 50 }).generate(callOptions({ prompt: `a fox ${index}` }))));
    expect(results.every((result) => result.images.length === 1)).toBe(true);
    const made = upstream.fake.listCalls.slice(calls);
    expect(made.some((ids) => ids.length === 3)).toBe(true);
    // Three tasks, three looks each at most: far fewer calls than one per task per look.
    expect(made.length).toBeLessThanOrEqual(4);
  });
});

describe('midjourney-proxy failures', () => {
  it('answers code 24 (banned prompt) with content_policy_violation', async () => {
    const error = await gatewayErrorOf(model().generate(callOptions({ prompt: 'a nude statue' })));
    expect(error.code).toBe('content_policy_violation');
    expect(error.message).toContain('flagged');
  });

  it('answers code 23 (queue full) as a retryable rate limit, code 4 as invalid_value', async () => {
    upstream.fake.switches.queueFull = true;
    const full = await gatewayErrorOf(model().generate(callOptions()));
    expect([full.code, full.retryable]).toEqual(['upstream_rate_limited', true]);
    upstream.fake.switches.queueFull = false;
    const invalid = await gatewayErrorOf(model().generate(callOptions({ providerOptions: { mj_action: { customId: 'MJ::JOB::upsample::1::nope', taskId: '1234' } } })));
    expect(invalid.code).toBe('invalid_value');
    expect(invalid.message).toContain('code 3');
  });

  it('turns a FAILURE into upstream_error with the failReason, and a banned-prompt FAILURE into content_policy_violation', async () => {
    upstream.fake.switches.failReason = '[Invalid parameter] Invalid value';
    const failed = await gatewayErrorOf(model().generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', false]);
    expect(failed.message).toContain('[Invalid parameter] Invalid value');
    upstream.fake.switches.failReason = 'Banned prompt detected';
    expect((await gatewayErrorOf(model().generate(callOptions()))).code).toBe('content_policy_violation');
  });

  it('gives up a task stuck past options.stuck_timeout_ms, not retryable', async () => {
    upstream.fake.switches.hang = true;
    const error = await gatewayErrorOf(model({ options: { stuck_timeout_ms: 200 } }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_timeout', false]);
  });

  it('fails plainly when the image link has already expired, and reports a malformed poll answer', async () => {
    upstream.fake.switches.resultUrlTtlMs = 0;
    const expired = await gatewayErrorOf(model().generate(callOptions()));
    expect(expired.message).toContain('HTTP 404');
    upstream.fake.switches.resultUrlTtlMs = undefined;
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(model().generate(callOptions()))).code).toBe('upstream_invalid_response');
  });

  it('answers a wrong secret with upstream_auth_failed and never shows the secret', async () => {
    const error = await gatewayErrorOf(model({ apiKey: 'wrong-secret-value' }).generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.message).not.toContain('wrong-secret-value');
  });

  it('refuses a channel whose stuck_timeout_ms is not a positive integer', () => {
    expect(() => model({ options: { stuck_timeout_ms: 'soon' } })).toThrow('stuck_timeout_ms');
  });
});
