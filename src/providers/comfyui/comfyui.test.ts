// The ComfyUI adapter against the ComfyUI fake through the real guarded HTTP client: filled workflow
// templates, uploads for edits, the job recorded before polling, resume without resubmitting, websocket
// progress, cancel, and every failure.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, InputImage, UpstreamJobRef } from '../../core/ports/image-model.js';
import { startComfyFake } from '../../testing/fakes/comfyui.js';
import { abortAfter, bytesOf, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createComfyProvider, fillWorkflow, loadWorkflow } from './index.js';

const upstream = useUpstreamFake(startComfyFake, 'file');
const checkpoint = 'sd_xl_base_1.0.safetensors';

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createComfyProvider({ channel: 'comfy-test', baseURL: upstream.fake.url, apiKey: '', http: upstream.http, pollIntervalMs: 20, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: checkpoint, prompt: 'a red fox in snow', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

async function photo(width: number, height: number): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: 3, background: '#3366aa' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

describe('workflow templates', () => {
  it('fills whole-string placeholders with typed values, defaults, and embedded text', () => {
    const template = loadWorkflow('builtin:sdxl-txt2img', 'test');
    const filled = fillWorkflow(template, { prompt: 'a "quoted" fox', width: 832, height: 1216, seed: 7, batch_size: 2, checkpoint });
    expect(filled['5']?.inputs).toEqual({ width: 832, height: 1216, batch_size: 2 });
    expect(filled['3']?.inputs).toMatchObject({ seed: 7, steps: 25, cfg: 7 });
    expect(filled['6']?.inputs['text']).toBe('a "quoted" fox');
    expect(filled['7']?.inputs['text']).toBe('');
    expect(filled['4']?.inputs['ckpt_name']).toBe(checkpoint);
    expect(() => fillWorkflow(template, { width: 1, height: 1, seed: 1, batch_size: 1, checkpoint })).toThrow('{{prompt}}');
  });
});

describe('ComfyUI generate', () => {
  it('queues the filled workflow with a client id, records the prompt id, and returns the saved batch', async () => {
    const jobs: UpstreamJobRef[] = [];
    const result = await model(checkpoint).generate(callOptions({ n: 3, size: { width: 832, height: 1216 }, aspectRatio: '2:3', seed: 42, onUpstreamJob: (job) => void jobs.push(job) }));
    const prompt = upstream.fake.prompts.at(-1);
    expect(prompt?.clientId).toEqual(expect.any(String));
    expect(prompt?.workflow['5']?.inputs).toEqual({ width: 832, height: 1216, batch_size: 3 });
    expect(prompt?.workflow['3']?.inputs['seed']).toBe(42);
    expect(jobs).toEqual([{ provider: 'comfyui', data: { prompt_id: prompt?.promptId } }]);
    expect(result.images).toHaveLength(3);
    for (const image of result.images) {
      const metadata = await sharp(bytesOf(image)).metadata();
      expect([metadata.width, metadata.height]).toEqual([832, 1216]);
    }
  });

  it('takes the client’s sampling values for the template’s placeholders and warns about other extra fields', async () => {
    const result = await model(checkpoint).generate(callOptions({ providerOptions: { negative_prompt: 'blurry', steps: 40, cfg: 4.5, sampler_name: 'dpmpp_2m' } }));
    const workflow = upstream.fake.prompts.at(-1)?.workflow;
    expect(workflow?.['7']?.inputs['text']).toBe('blurry');
    expect(workflow?.['3']?.inputs).toMatchObject({ steps: 40, cfg: 4.5, sampler_name: 'euler' });
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'unsupported', param: 'sampler_name' })]);
  });

  it('reports progress from the websocket events of its own prompt', async () => {
    upstream.fake.switches.latencyMs = 400;
    upstream.fake.switches.pollsBeforeReady = 5;
    const seen: number[] = [];
    await model(checkpoint).generate(callOptions({ onProgress: (percent) => seen.push(percent) }));
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.every((percent) => percent > 0 && percent <= 99)).toBe(true);
  });

  it('resumes a recorded prompt by polling its history, without queueing it again', async () => {
    const jobs: UpstreamJobRef[] = [];
    await model(checkpoint).generate(callOptions({ onUpstreamJob: (job) => void jobs.push(job) }));
    const before = upstream.fake.prompts.length;
    const [job] = jobs;
    const resumed = await model(checkpoint).resume!(job!, callOptions());
    expect(upstream.fake.prompts).toHaveLength(before);
    expect(resumed.images).toHaveLength(1);
  });

  it('takes the prompt off the queue and interrupts it when the caller gives up', async () => {
    upstream.fake.switches.hang = true;
    const reason = new Error('client went away');
    await expect(model(checkpoint).generate(callOptions({ abortSignal: abortAfter(reason, 150) }))).rejects.toBe(reason);
    const paths = upstream.fake.requests.map((request) => `${request.method} ${request.path}`);
    expect(paths).toContain('POST /queue');
  });
});

describe('ComfyUI edit', () => {
  it('uploads the image and fills {{image}} in the img2img template at the asked size', async () => {
    const result = await model(checkpoint).edit!(callOptions({ images: [await photo(768, 512)], size: { width: 768, height: 512 }, n: 2 }));
    const workflow = upstream.fake.prompts.at(-1)?.workflow;
    const uploaded = String(workflow?.['10']?.inputs['image']);
    expect(uploaded).toMatch(/^imagegate\/imagegate-.*\.png$/);
    expect(upstream.fake.uploads.get(uploaded)).toMatchObject({ width: 768, height: 512 });
    expect(workflow?.['13']?.inputs['amount']).toBe(2);
    expect(result.images).toHaveLength(2);
    expect((await sharp(bytesOf(result.images[0])).metadata()).width).toBe(768);
    expect(result.warnings).toEqual([]);
  });

  it('warns that a mask is not used when the edit template takes none', async () => {
    const image = await photo(512, 512);
    const result = await model(checkpoint).edit!(callOptions({ images: [image], mask: image, size: { width: 512, height: 512 } }));
    expect(result.warnings).toEqual([expect.objectContaining({ param: 'mask', type: 'unsupported' })]);
  });
});

describe('ComfyUI failures', () => {
  it('answers a template ComfyUI refuses with the node errors', async () => {
    const error = await gatewayErrorOf(model('no-such-checkpoint.safetensors').generate(callOptions()));
    expect(error.code).toBe('invalid_value');
    expect(error.message).toContain('node 4 (CheckpointLoaderSimple)');
    expect(error.message).toContain('no-such-checkpoint.safetensors');
  });

  it('turns an execution error in the history into upstream_error with ComfyUI’s message', async () => {
    upstream.fake.switches.failStatus = 500;
    const error = await gatewayErrorOf(model(checkpoint).generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('CUDA out of memory');
  });

  it('rides out a malformed history until the limit and then reports it', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(model(checkpoint).generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
  });

  it('refuses a channel whose workflow file is not an API-format workflow', () => {
    expect(() => model(checkpoint, { options: { workflows: { '*': { generate: 'package.json' } } } })).toThrow('API-format');
  });
});
