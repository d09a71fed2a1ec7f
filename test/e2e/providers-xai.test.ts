// xAI end to end: OpenAI-format requests through the gateway over HTTP to the xAI fake — sizes turned
// into xAI's aspect ratios (said in x-imagegate-warnings), revised prompts, JSON edits, an async task,
// and failures in OpenAI's shape.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startXaiFake } from '../../src/testing/fakes/xai.js';
import { edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { call, waitForTask } from './task-helpers.js';

const rig = useProviderRig(
  startXaiFake,
  (fake) => {
    const channel: ChannelConfig = { name: 'xai', provider: 'xai', base_url: `${fake.url}/v1`, api_key: fake.apiKey, models: ['grok-imagine-image'] };
    return [channel];
  },
);

describe('xAI through the gateway', () => {
  it('generates n images at an aspect ratio, with xAI’s revised prompts, as JPEG by default', async () => {
    const answer = await generate(rig.gateway, { model: 'grok-imagine-image', prompt: 'a red fox in snow', n: 2, aspect_ratio: '16:9', response_format: 'b64_json' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('xai');
    expect(answer.body.data?.map((item) => item.revised_prompt)).toEqual(['A detailed image of a red fox in snow', 'A detailed image of a red fox in snow']);
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => image.format)).toEqual(['jpeg', 'jpeg']);
    expect(images[0]!.width / images[0]!.height).toBeCloseTo(16 / 9, 1);
    expect(rig.fake.calls.at(-1)?.body).toEqual({ model: 'grok-imagine-image', prompt: 'a red fox in snow', n: 2, response_format: 'b64_json', aspect_ratio: '16:9' });
  });

  it('never sends a size: a pixel size becomes xAI’s nearest ratio and the answer says so', async () => {
    const answer = await generate(rig.gateway, { model: 'grok-imagine-image', prompt: 'a lighthouse', size: '1792x1024', style: 'vivid', output_format: 'png' });
    expect(answer.status).toBe(200);
    const warnings = answer.headers.get('x-imagegate-warnings') ?? '';
    expect(warnings).toContain('grok-imagine-image takes an aspect ratio, not pixels: size 1792x1024 was mapped to aspect_ratio 16:9');
    expect(warnings).toContain('style');
    expect(rig.fake.calls.at(-1)?.body).not.toHaveProperty('size');
    expect(rig.fake.calls.at(-1)?.body).not.toHaveProperty('style');
    const [image] = await imagesOf(rig.gateway, answer);
    expect(image?.format).toBe('png');
  });

  it('answers an aspect ratio xAI does not have with a 400 that lists the ones it has', async () => {
    const answer = await generate(rig.gateway, { model: 'grok-imagine-image', prompt: 'x', aspect_ratio: '9:21' });
    expect([answer.status, answer.body.error?.param]).toEqual([400, 'aspect_ratio']);
    expect(answer.body.error?.message).toContain("'20:9'");
  });

  it('edits with the uploads sent as JSON data URLs, and refuses a mask', async () => {
    const photo = await inputImage(768, 512);
    const answer = await edit(rig.gateway, { model: 'grok-imagine-image', prompt: 'make it winter' }, [photo]);
    expect(answer.status).toBe(200);
    expect(rig.fake.calls.at(-1)).toMatchObject({ operation: 'edits', inputs: [{ width: 768, height: 512, format: 'png' }] });
    const mask = await sharp({ create: { width: 768, height: 512, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
    const masked = await edit(rig.gateway, { model: 'grok-imagine-image', prompt: 'a hat' }, [photo], mask);
    expect([masked.status, masked.body.error?.param]).toEqual([400, 'mask']);
  });

  it('runs as an async task and ends succeeded with the image', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'grok-imagine-image', prompt: 'a castle', aspect_ratio: '1:1' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const url = task.result?.data?.[0]?.url as string | undefined;
    const b64 = task.result?.data?.[0]?.b64_json as string | undefined;
    const bytes = b64 !== undefined ? Buffer.from(b64, 'base64') : Buffer.from(await (await fetch(String(url))).arrayBuffer());
    expect((await sharp(bytes).metadata()).width).toBe(1024);
  });

  it('answers moderation as content_policy_violation, and an xAI team out of credit as out of funds', async () => {
    rig.fake.switches.moderation = 'input';
    const flagged = await generate(rig.gateway, { model: 'grok-imagine-image', prompt: 'x' });
    expect([flagged.status, flagged.body.error?.code]).toEqual([400, 'content_policy_violation']);
    delete rig.fake.switches.moderation;
    // Last: the only channel is then marked out of funds.
    rig.fake.switches.outOfFunds = true;
    const broke = await generate(rig.gateway, { model: 'grok-imagine-image', prompt: 'x' });
    expect(broke.body.error?.code).toBe('upstream_out_of_funds');
  });
});
