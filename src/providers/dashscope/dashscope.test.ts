// Behaviour of the DashScope adapter against the DashScope fake over real HTTP: what DashScope
// receives on each protocol, what the gateway gets back, and how DashScope's error codes map.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, UpstreamJobRef } from '../../core/ports/image-model.js';
import { startDashScopeFake } from '../../testing/fakes/dashscope.js';
import { gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import { createDashScopeProvider } from './index.js';

const apiKey = 'sk-dashscope-secret-0123456789abcdef';
const upstream = useUpstreamFake(() => startDashScopeFake({ apiKey }), 'test');

function model(name: string, overrides: { apiKey?: string; baseURL?: string; timeoutMs?: number; options?: Record<string, unknown> } = {}): ImageModel {
  return createDashScopeProvider({
    channel: 'dashscope-test',
    baseURL: overrides.baseURL ?? upstream.fake.url,
    apiKey: overrides.apiKey ?? apiKey,
    http: upstream.http,
    pollIntervalMs: 5,
    timeoutMs: overrides.timeoutMs ?? 10_000,
    ...(overrides.options === undefined ? {} : { options: overrides.options }),
  })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'wan2.2-t2i-flash', prompt: 'a red fox in snow', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

function lastPost(path: string): Record<string, unknown> {
  const request = [...upstream.fake.requests].reverse().find((candidate) => candidate.method === 'POST' && candidate.path === path);
  if (request === undefined) throw new Error(`nothing was posted to ${path}`);
  return request.json as Record<string, unknown>;
}

async function sizeOfUrl(url: string): Promise<[number, number]> {
  const bytes = Buffer.from(await (await fetch(url)).arrayBuffer());
  const metadata = await sharp(bytes).metadata();
  return [metadata.width ?? 0, metadata.height ?? 0];
}

describe('DashScope adapter: the task API', () => {
  it('submits wan2.2-t2i-flash with X-DashScope-Async, records the task id before polling, and returns the result URLs', async () => {
    const jobs: { job: UpstreamJobRef; pollsSoFar: number }[] = [];
    const result = await model('wan2.2-t2i-flash').generate(
      callOptions({
        n: 2,
        size: { width: 1280, height: 720 },
        aspectRatio: '16:9',
        seed: 7,
        providerOptions: { negative_prompt: 'blurry', prompt_extend: false },
        onUpstreamJob: (job) => {
          jobs.push({ job, pollsSoFar: upstream.fake.polls });
        },
      }),
    );
    const submit = upstream.fake.requests.find((request) => request.path === '/api/v1/services/aigc/text2image/image-synthesis');
    expect(submit?.headers['authorization']).toBe(`Bearer ${apiKey}`);
    expect(submit?.headers['x-dashscope-async']).toBe('enable');
    expect(submit?.json).toEqual({
      model: 'wan2.2-t2i-flash',
      input: { prompt: 'a red fox in snow', negative_prompt: 'blurry' },
      parameters: { size: '1280*720', n: 2, seed: 7, prompt_extend: false },
    });
    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.pollsSoFar).toBe(0);
    const taskId = String(jobs[0]?.job.data['task_id']);
    expect(upstream.fake.tasks.has(taskId)).toBe(true);
    expect(result.upstreamRequestId).toBe(taskId);
    expect(result.images).toHaveLength(2);
    const [first] = result.images;
    if (first?.kind !== 'url') throw new Error('expected a URL');
    expect(first.url).toContain('Expires=');
    expect(first.revisedPrompt).toBe('a red fox in snow, rewritten by prompt_extend');
    expect(await sizeOfUrl(first.url)).toEqual([1280, 720]);
  });

  it('snaps qwen-image-plus to its nearest preset and says so', async () => {
    const result = await model('qwen-image-plus').generate(callOptions({ model: 'qwen-image-plus', size: { width: 1024, height: 768 }, aspectRatio: '4:3' }));
    expect(lastPost('/api/v1/services/aigc/text2image/image-synthesis')['parameters']).toMatchObject({ size: '1472*1104', n: 1 });
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));
  });

  it('resumes a recorded task by polling it, never submitting again', async () => {
    const first = model('wan2.5-t2i-preview');
    upstream.fake.switches.pollsBeforeReady = 3;
    const controller = new AbortController();
    let recorded: UpstreamJobRef | undefined;
    const abandoned = first.generate(
      callOptions({
        model: 'wan2.5-t2i-preview',
        abortSignal: controller.signal,
        onUpstreamJob: (job) => {
          recorded = job;
          controller.abort(new Error('the gateway went down'));
        },
      }),
    );
    await expect(abandoned).rejects.toThrow('the gateway went down');
    if (recorded === undefined) throw new Error('no job recorded');
    // A process that died cannot cancel; the fresh one finds the task where it was.
    const task = upstream.fake.tasks.get(String(recorded.data['task_id']));
    if (task !== undefined) task.status = 'RUNNING';
    const submissions = upstream.fake.submissions;
    const resumed = await model('wan2.5-t2i-preview').resume?.(recorded, callOptions({ model: 'wan2.5-t2i-preview' }));
    expect(resumed?.images).toHaveLength(1);
    expect(upstream.fake.submissions).toBe(submissions);
  });

  it('cancels a PENDING task when the caller aborts while polling', async () => {
    upstream.fake.switches.pollsBeforeReady = 100_000;
    const controller = new AbortController();
    const pending = model('wan2.2-t2i-plus').generate(callOptions({ model: 'wan2.2-t2i-plus', abortSignal: controller.signal }));
    while (upstream.fake.polls < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    // The fake keeps a task PENDING on its first poll only; make this one stay cancellable.
    for (const task of upstream.fake.tasks.values()) task.status = 'PENDING';
    controller.abort(new Error('client left'));
    await expect(pending).rejects.toThrow('client left');
    expect(upstream.fake.cancels).toBe(1);
    expect([...upstream.fake.tasks.values()][0]?.status).toBe('CANCELED');
  });

  it('delivers the images of a partial success with a warning', async () => {
    upstream.fake.switches.failedResults = 1;
    const result = await model('wan2.2-t2i-flash').generate(callOptions({ n: 3 }));
    expect(result.images).toHaveLength(2);
    expect(result.warnings).toContainEqual(expect.objectContaining({ message: expect.stringContaining('made 2 of 3 images') }));
  });

  it('maps a task that failed moderation on its output to content_policy_violation (output)', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: ['DataInspectionFailed'] } });
  });

  it('maps a task that failed on its own to a non-retryable upstream_error naming the code', async () => {
    upstream.fake.switches.taskError = 'InternalError.Algo';
    const error = await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('(InternalError.Algo)');
  });

  it('reports a task DashScope no longer knows (UNKNOWN) as an upstream_error', async () => {
    const error = await gatewayErrorOf(model('wan2.2-t2i-flash').resume?.({ provider: 'dashscope', data: { task_id: 'a1b2c3d4-0000-0000-0000-000000000000' } }, callOptions()) ?? Promise.resolve());
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('no longer knows task');
  });

  it('rides out a malformed poll as invalid, without resubmitting', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
    expect(upstream.fake.submissions).toBe(0);
  });
});

describe('DashScope adapter: the synchronous multimodal-generation API', () => {
  it('sends qwen-image-2.0-pro a single user message with one text part and returns its images', async () => {
    const result = await model('qwen-image-2.0-pro').generate(callOptions({ model: 'qwen-image-2.0-pro', n: 2, size: { width: 1536, height: 1024 }, aspectRatio: '3:2', providerOptions: { watermark: false } }));
    const body = lastPost('/api/v1/services/aigc/multimodal-generation/generation');
    expect(body).toEqual({
      model: 'qwen-image-2.0-pro',
      input: { messages: [{ role: 'user', content: [{ text: 'a red fox in snow' }] }] },
      parameters: { size: '1536*1024', n: 2, watermark: false },
    });
    expect(result.images).toHaveLength(2);
    const [first] = result.images;
    if (first?.kind !== 'url') throw new Error('expected a URL');
    expect(await sizeOfUrl(first.url)).toEqual([1536, 1024]);
    expect(upstream.fake.submissions).toBe(0);
  });

  it('edits with qwen-image-edit-plus: the input images go first as data URLs, then the instruction', async () => {
    const source = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 10, g: 200, b: 30 } } }).png().toBuffer();
    const image = { data: source, mediaType: 'image/png' as const, width: 640, height: 480 };
    const result = await model('qwen-image-edit-plus').edit?.(callOptions({ model: 'qwen-image-edit-plus', images: [image, image], size: { width: 1024, height: 768 }, aspectRatio: '4:3' }));
    const body = lastPost('/api/v1/services/aigc/multimodal-generation/generation');
    const content = ((body['input'] as { messages: { content: Record<string, unknown>[] }[] }).messages[0]?.content ?? []);
    expect(content.map((part) => Object.keys(part)[0])).toEqual(['image', 'image', 'text']);
    expect(String(content[0]?.['image'])).toBe(`data:image/png;base64,${source.toString('base64')}`);
    expect(result?.images).toHaveLength(1);
  });

  it('refuses to generate with an edit-only model, and an edit with more images than the model takes', async () => {
    const noImage = await gatewayErrorOf(model('qwen-image-edit-max').generate(callOptions({ model: 'qwen-image-edit-max' })));
    expect([noImage.code, noImage.param]).toEqual(['invalid_value', 'image']);
    const image = { data: Buffer.from('x'), mediaType: 'image/png' as const, width: 1, height: 1 };
    const tooMany = await gatewayErrorOf(model('qwen-image-edit').edit?.(callOptions({ model: 'qwen-image-edit', images: [image, image] })) ?? Promise.resolve());
    expect(tooMany.message).toContain('at most 1 input images');
    expect(upstream.fake.generations).toBe(0);
  });

  it('calls wan2.6-t2i synchronously with a size inside its pixel area', async () => {
    await model('wan2.6-t2i').generate(callOptions({ model: 'wan2.6-t2i', size: { width: 512, height: 512 }, aspectRatio: '1:1' }));
    const size = String((lastPost('/api/v1/services/aigc/multimodal-generation/generation')['parameters'] as Record<string, unknown>)['size']);
    const [width, height] = size.split('*').map(Number);
    expect((width ?? 0) * (height ?? 0)).toBeGreaterThanOrEqual(768 * 768);
  });
});

describe('DashScope adapter: errors', () => {
  it('maps Arrearage (a 400) to upstream_out_of_funds, which fails over', async () => {
    upstream.fake.switches.outOfFunds = true;
    for (const name of ['wan2.2-t2i-flash', 'qwen-image-max']) {
      const error = await gatewayErrorOf(model(name).generate(callOptions({ model: name, size: { width: 1328, height: 1328 } })));
      expect([error.code, error.retryable]).toEqual(['upstream_out_of_funds', true]);
    }
  });

  it('maps DataInspectionFailed and IPInfringementSuspect on the input to content_policy_violation (input)', async () => {
    upstream.fake.switches.moderation = 'input';
    const inspected = await gatewayErrorOf(model('qwen-image-max').generate(callOptions({ model: 'qwen-image-max' })));
    expect(inspected.code).toBe('content_policy_violation');
    expect(inspected.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['DataInspectionFailed'] } });
    upstream.fake.switches.ipInfringement = true;
    const infringing = await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()));
    expect(infringing.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['IPInfringementSuspect'] } });
  });

  it('passes Throttling on as upstream_rate_limited with its retry-after', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 9;
    const error = await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()));
    expect([error.code, error.retryAfterSeconds]).toEqual(['upstream_rate_limited', 9]);
  });

  it('maps InvalidApiKey to upstream_auth_failed without the key in the message', async () => {
    const wrongKey = 'sk-wrong-key-do-not-echo-123456';
    const error = await gatewayErrorOf(model('qwen-image-2.0', { apiKey: wrongKey }).generate(callOptions({ model: 'qwen-image-2.0' })));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.message).not.toContain(wrongKey);
  });

  it('maps InvalidParameter to invalid_value and a 500 to a retryable upstream_error', async () => {
    upstream.fake.switches.failStatus = 400;
    expect((await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()))).code).toBe('invalid_value');
    upstream.fake.switches.failStatus = 500;
    const error = await gatewayErrorOf(model('wan2.2-t2i-flash').generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_error', true]);
  });
});

describe('DashScope provider settings', () => {
  it('strips the SDKs’ /api/v1 from a base URL and rejects an unknown region', async () => {
    await model('wan2.2-t2i-flash', { baseURL: `${upstream.fake.url}/api/v1/` }).generate(callOptions());
    expect(upstream.fake.submissions).toBe(1);
    expect(() => createDashScopeProvider({ channel: 'c', baseURL: '', apiKey, http: upstream.http, options: { region: 'mars' } })).toThrow(/options.region/);
  });
});
