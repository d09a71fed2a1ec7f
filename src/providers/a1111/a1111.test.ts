// The AUTOMATIC1111 adapter against the webui fake through the real guarded HTTP client: the txt2img and
// img2img bodies the webui receives, checkpoints, the inpainting mask, progress, and every failure.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ImageCallOptions, ImageModel, InputImage } from '../../core/ports/image-model.js';
import { a1111FakeDefaultCheckpoints, startA1111Fake } from '../../testing/fakes/a1111.js';
import { abortAfter, bytesOf, gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import type { ProviderSettings } from '../shared/types.js';
import { createA1111Provider } from './index.js';

const upstream = useUpstreamFake(startA1111Fake, 'file');
const sdxl = 'sd_xl_base_1.0.safetensors';

function model(name: string, settings: Partial<ProviderSettings> = {}): ImageModel {
  return createA1111Provider({ channel: 'a1111-test', baseURL: upstream.fake.url, apiKey: '', http: upstream.http, ...settings })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: sdxl, prompt: 'a red fox in snow', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

async function pngInput(width: number, height: number, alpha = false): Promise<InputImage> {
  const data = await sharp({ create: { width, height, channels: alpha ? 4 : 3, background: alpha ? { r: 0, g: 0, b: 0, alpha: 0 } : '#3366aa' } }).png().toBuffer();
  return { data, mediaType: 'image/png', width, height };
}

describe('AUTOMATIC1111 txt2img', () => {
  it('sends the prompt, size, batch and checkpoint override, and returns the batch without the grid', async () => {
    const result = await model(sdxl).generate(callOptions({ n: 3, size: { width: 832, height: 1216 }, aspectRatio: '2:3', seed: 42 }));
    const job = upstream.fake.jobs.at(-1);
    expect(job?.path).toBe('/sdapi/v1/txt2img');
    expect(job?.body).toMatchObject({
      prompt: 'a red fox in snow', width: 832, height: 1216, batch_size: 3, n_iter: 1, seed: 42, send_images: true, save_images: false,
      override_settings: { sd_model_checkpoint: sdxl, return_grid: false }, override_settings_restore_afterwards: true,
    });
    expect(result.images).toHaveLength(3);
    for (const image of result.images) {
      const metadata = await sharp(bytesOf(image)).metadata();
      expect([metadata.format, metadata.width, metadata.height]).toEqual(['png', 832, 1216]);
    }
    expect(result.warnings).toEqual([]);
  });

  it('leaves the checkpoint alone for the `default` model and snaps sizes to multiples of 8 with a warning', async () => {
    const result = await model('default').generate(callOptions({ size: { width: 1000, height: 700 }, aspectRatio: '10:7' }));
    const body = upstream.fake.jobs.at(-1)?.body;
    expect(body?.['override_settings']).toEqual({ return_grid: false });
    expect([body?.['width'], body?.['height']]).toEqual([1000, 704]);
    expect(result.warnings).toEqual([expect.objectContaining({ type: 'mapped', message: expect.stringContaining('1000x704') })]);
  });

  it('passes sampling controls from the request, drops the rest with a warning, and merges the operator parameters first', async () => {
    const result = await model(sdxl, { options: { parameters: { steps: 20, sampler_name: 'Euler a', alwayson_scripts: { ADetailer: { args: [true] } } } } }).generate(
      callOptions({ providerOptions: { negative_prompt: 'blurry', steps: 30, script_name: 'run anything', save_images: true } }),
    );
    const body = upstream.fake.jobs.at(-1)?.body;
    expect(body).toMatchObject({ negative_prompt: 'blurry', steps: 30, sampler_name: 'Euler a', alwayson_scripts: { ADetailer: { args: [true] } }, save_images: false });
    expect(body).not.toHaveProperty('script_name');
    expect(result.warnings.map((warning) => warning.param).sort()).toEqual(['save_images', 'script_name']);
  });

  it('reports its own task progress while the job runs', async () => {
    upstream.fake.switches.latencyMs = 2_500;
    const seen: number[] = [];
    await model(sdxl).generate(callOptions({ onProgress: (percent) => seen.push(percent) }));
    const progressCalls = upstream.fake.requests.filter((request) => request.path === '/internal/progress');
    expect(progressCalls.length).toBeGreaterThan(0);
    const asked = progressCalls.at(-1)?.json as { id_task?: string };
    expect(asked.id_task).toBe(upstream.fake.jobs.at(-1)?.body['force_task_id']);
    expect(seen.every((percent) => percent >= 0 && percent < 100)).toBe(true);
  });

  it('sends HTTP Basic when the channel has an --api-auth pair, and maps a refused pair to upstream_auth_failed', async () => {
    const fake = await startA1111Fake({ apiAuth: 'operator:s3cret-pair' });
    try {
      const ok = createA1111Provider({ channel: 'a', baseURL: fake.url, apiKey: 'operator:s3cret-pair', http: upstream.http })(sdxl);
      await ok.generate(callOptions());
      expect(fake.requests.at(-1)?.headers['authorization']).toBe(`Basic ${Buffer.from('operator:s3cret-pair').toString('base64')}`);
      const wrong = createA1111Provider({ channel: 'a', baseURL: fake.url, apiKey: 'operator:wrong-pair-value', http: upstream.http })(sdxl);
      const error = await gatewayErrorOf(wrong.generate(callOptions()));
      expect(error.code).toBe('upstream_auth_failed');
      expect(error.message).not.toContain('wrong-pair-value');
    } finally {
      await fake.close();
    }
  });
});

describe('AUTOMATIC1111 img2img', () => {
  it('sends the input as init_images and converts OpenAI’s transparent-area mask to white-on-black', async () => {
    const image = await pngInput(512, 512);
    // The top half transparent (edit there), the bottom half opaque (keep).
    const pixels = Buffer.alloc(512 * 512 * 4);
    for (let row = 256; row < 512; row += 1) for (let column = 0; column < 512; column += 1) pixels[(row * 512 + column) * 4 + 3] = 255;
    const maskData = await sharp(pixels, { raw: { width: 512, height: 512, channels: 4 } }).png().toBuffer();
    const result = await model(sdxl).edit!(callOptions({ images: [image], mask: { data: maskData, mediaType: 'image/png', width: 512, height: 512 }, size: { width: 512, height: 512 } }));
    const job = upstream.fake.jobs.at(-1);
    expect(job?.path).toBe('/sdapi/v1/img2img');
    expect(job?.initImages).toEqual([{ width: 512, height: 512, format: 'png' }]);
    const sentMask = Buffer.from(String(job?.body['mask']), 'base64');
    const { data, info } = await sharp(sentMask).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBe(255); // top-left: was transparent → inpaint
    expect(data[(info.height - 1) * info.width]).toBe(0); // bottom-left: opaque → keep
    expect(result.images).toHaveLength(1);
  });
});

describe('AUTOMATIC1111 failures', () => {
  it('maps an exception in the job (500) to a retryable upstream_error with the webui’s words', async () => {
    upstream.fake.switches.failStatus = 500;
    const error = await gatewayErrorOf(model(sdxl).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_error', true]);
    expect(error.message).toContain('CUDA out of memory');
  });

  it('maps an unknown checkpoint to an upstream error naming it', async () => {
    const error = await gatewayErrorOf(model('no-such-model.safetensors').generate(callOptions()));
    expect(error.message).toContain('no-such-model.safetensors');
  });

  it('maps FastAPI’s 422 to invalid_value naming the field', async () => {
    const error = await gatewayErrorOf(model(sdxl).generate(callOptions({ providerOptions: { steps: 'many' } })));
    expect(error.code).toBe('invalid_value');
    expect(error.message).toContain('body.steps');
  });

  it('maps a truncated body to upstream_invalid_response', async () => {
    upstream.fake.switches.malformed = true;
    expect((await gatewayErrorOf(model(sdxl).generate(callOptions()))).code).toBe('upstream_invalid_response');
  });

  it('gives the caller its own abort reason when it gives up on a hung webui', async () => {
    upstream.fake.switches.hang = true;
    const reason = new Error('client went away');
    await expect(model(sdxl).generate(callOptions({ abortSignal: abortAfter(reason, 100) }))).rejects.toBe(reason);
  });
});

describe('AUTOMATIC1111 fake, against the webui’s documented shapes', () => {
  it('answers the documented txt2img payload with base64 images, the echoed parameters and info as JSON text', async () => {
    // The typical payload of the spec notes' source (sorainnosia/sd-req README), fields as in modules/api/models.py.
    const documented = { prompt: 'a red fox', negative_prompt: 'blurry', width: 1024, height: 1024, steps: 25, cfg_scale: 6, sampler_name: 'DPM++ 2M', scheduler: 'Karras', seed: -1, batch_size: 2, n_iter: 1 };
    const response = await fetch(`${upstream.fake.url}/sdapi/v1/txt2img`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(documented) });
    const body = (await response.json()) as { images: string[]; parameters: Record<string, unknown>; info: string };
    // return_grid is on by default: the grid comes first, then the two images.
    expect(body.images).toHaveLength(3);
    expect(body.parameters).toMatchObject(documented);
    const info = JSON.parse(body.info) as { all_seeds: number[]; seed: number };
    expect(info.all_seeds).toEqual([info.seed, info.seed + 1]);
  });

  it('lists its checkpoints as /sdapi/v1/sd-models does', async () => {
    const models = (await (await fetch(`${upstream.fake.url}/sdapi/v1/sd-models`)).json()) as { title: string }[];
    expect(models.map((entry) => entry.title)).toEqual(a1111FakeDefaultCheckpoints);
  });
});
