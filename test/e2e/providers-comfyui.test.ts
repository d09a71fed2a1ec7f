// ComfyUI end to end: OpenAI-format requests through the gateway over HTTP to the ComfyUI fake (the
// shipped SDXL workflow templates, uploads for edits, async tasks), and a gateway killed with SIGKILL
// while prompts run: the restarted gateway polls the recorded prompts instead of queueing them again.

import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startComfyFake } from '../../src/testing/fakes/comfyui.js';
import { apiKey } from './child-gateway.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { withGatewayKilledMidJobs } from './mid-job-restart.js';
import { call, waitForTask } from './task-helpers.js';

const checkpoint = 'sd_xl_base_1.0.safetensors';

const rig = useProviderRig(
  startComfyFake,
  (fake) => {
    const channel: ChannelConfig = {
      name: 'comfy',
      provider: 'comfyui',
      base_url: fake.url,
      api_key: '',
      models: ['stable-diffusion-xl'],
      model_map: { 'stable-diffusion-xl': checkpoint },
      poll_interval_ms: 20,
    };
    return [channel];
  },
);

describe('ComfyUI through the gateway', () => {
  it('generates n images from one queued workflow at the asked size', async () => {
    const before = rig.fake.prompts.length;
    const answer = await generate(rig.gateway, { model: 'stable-diffusion-xl', prompt: 'a red fox in snow', n: 2, size: '1216x832', steps: 30 });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('comfyui');
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.width, image.height])).toEqual([[1216, 832], [1216, 832]]);
    expect(rig.fake.prompts).toHaveLength(before + 1);
    const workflow = rig.fake.prompts.at(-1)?.workflow;
    expect(workflow?.['4']?.inputs['ckpt_name']).toBe(checkpoint);
    expect(workflow?.['3']?.inputs['steps']).toBe(30);
  });

  it('edits by uploading the image into the img2img workflow', async () => {
    const answer = await edit(rig.gateway, { model: 'stable-diffusion-xl', prompt: 'make it winter', size: '768x512' }, [await inputImage(768, 512)]);
    expect(answer.status).toBe(200);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([768, 512]);
    expect(String(rig.fake.prompts.at(-1)?.workflow['10']?.inputs['image'])).toMatch(/^imagegate\//);
  });

  it('runs as an async task to succeeded', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'stable-diffusion-xl', prompt: 'a lighthouse', size: '512x512' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
  });
});

describe('a gateway killed while ComfyUI prompts run', () => {
  it('resumes the recorded prompts after a restart: every task succeeds and nothing is queued twice', { timeout: 90_000 }, async () => {
    const slow = await startComfyFake({ switches: { latencyMs: 1_500 } });
    try {
      const config = {
        channels: [{ name: 'comfy', provider: 'comfyui', base_url: slow.url, models: ['stable-diffusion-xl'], model_map: { 'stable-diffusion-xl': checkpoint }, poll_interval_ms: 50 }],
        tasks: { lease_ms: 1500 },
      };
      await withGatewayKilledMidJobs('imagegate-comfy-restart-', config, async (rig) => {
        const ids = await rig.submitAsync(Array.from({ length: 3 }, (_, index) => ({ model: 'stable-diffusion-xl', prompt: `durable ${index}`, size: '512x512' })));
        // Killed only once every prompt is queued upstream and recorded: the restart must poll them.
        await rig.waitForRecordedJobs(3);
        await rig.killAndRestart();
        expect(await rig.statusesAtEnd(ids)).toEqual(['succeeded', 'succeeded', 'succeeded']);
        expect(slow.prompts).toHaveLength(3);
        expect(await rig.firstImageWidth(ids[0] ?? '')).toBe(512);
      });
    } finally {
      await slow.close();
    }
  });
});
