// AUTOMATIC1111 / Forge end to end: OpenAI-format requests through the gateway over HTTP to the webui
// fake (txt2img for generations, img2img with an inpainting mask for edits, n as the batch size).

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startA1111Fake, type A1111Fake } from '../../src/testing/fakes/a1111.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { call, waitForTask } from './task-helpers.js';

const checkpoint = 'sd_xl_base_1.0.safetensors';

const rig = useProviderRig(
  startA1111Fake,
  (fake) => {
    const channel: ChannelConfig = {
      name: 'webui',
      provider: 'a1111',
      base_url: fake.url,
      api_key: '',
      models: ['stable-diffusion-xl'],
      model_map: { 'stable-diffusion-xl': checkpoint },
      options: { parameters: { steps: 25, sampler_name: 'DPM++ 2M' } },
    };
    return [channel];
  },
);

describe('AUTOMATIC1111 through the gateway', () => {
  it('generates n images as one txt2img batch on the mapped checkpoint, at the asked size', async () => {
    const answer = await generate(rig.gateway, { model: 'stable-diffusion-xl', prompt: 'a red fox in snow', n: 2, size: '1216x832', negative_prompt: 'blurry' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('a1111');
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.format, image.width, image.height])).toEqual([['png', 1216, 832], ['png', 1216, 832]]);
    expect(rig.fake.jobs).toHaveLength(1);
    expect(rig.fake.jobs[0]?.body).toMatchObject({
      prompt: 'a red fox in snow', negative_prompt: 'blurry', width: 1216, height: 832, batch_size: 2, steps: 25, sampler_name: 'DPM++ 2M',
      override_settings: { sd_model_checkpoint: checkpoint },
    });
  });

  it('edits through img2img with the upload as init image', async () => {
    const photo = await inputImage(768, 512);
    const answer = await edit(rig.gateway, { model: 'stable-diffusion-xl', prompt: 'make it winter', size: '768x512' }, [photo]);
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([768, 512]);
    const job = rig.fake.jobs.at(-1);
    expect(job?.path).toBe('/sdapi/v1/img2img');
    expect(job?.initImages).toEqual([{ width: 768, height: 512, format: 'png' }]);
  });

  it('runs as an async task and ends succeeded with the image', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'stable-diffusion-xl', prompt: 'a lighthouse', size: '512x512' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const b64 = task.result?.data?.[0]?.b64_json as string | undefined;
    const url = task.result?.data?.[0]?.url as string | undefined;
    const bytes = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(await (await fetch(String(url))).arrayBuffer());
    expect((await sharp(bytes).metadata()).width).toBe(512);
  });

  it('answers a webui failure as a 502 in OpenAI’s shape, without leaking the exception trace', async () => {
    rig.fake.switches.failStatus = 500;
    const answer = await generate(rig.gateway, { model: 'stable-diffusion-xl', prompt: 'x' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.code).toBe('upstream_error');
  });
});
