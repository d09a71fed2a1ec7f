// Black Forest Labs end to end: OpenAI-format requests through the gateway over HTTP to the BFL fake
// (submit → poll the returned polling_url → download the 10-minute sample URL → re-host).

import { describe, expect, it } from 'vitest';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import type { ChannelConfig } from '../../src/config/schema.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { decode, edit, generate, generateAbortable, imagesOf, inputImage, ratioOf, sleep, useProviderRig, waitUntil } from './providers-support.js';

const wrongKey = 'bfl_wrong_key_do_not_echo_7c1e9a';

function bflChannel(fake: BflFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'bfl',
    provider: 'bfl',
    base_url: fake.url,
    api_key: bflFakeApiKey,
    models: ['flux-kontext-pro', 'flux-1.1-pro', 'flux-1.1-pro-ultra', 'flux-2-pro'],
    model_map: { 'flux-1.1-pro': 'flux-pro-1.1', 'flux-1.1-pro-ultra': 'flux-pro-1.1-ultra' },
    poll_interval_ms: 10,
    timeout_ms: 20_000,
    ...overrides,
  };
}

const rig = useProviderRig(startBflFake, (fake) => [bflChannel(fake)]);

describe('BFL through the gateway', () => {
  it('serves flux-kontext-pro with aspect_ratio 21:9 as a 21:9 image re-hosted on the gateway', async () => {
    const answer = await generate(rig.gateway, { model: 'flux-kontext-pro', prompt: 'a fjord at dawn', aspect_ratio: '21:9' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('bfl');
    // flux-kontext-pro answers with URLs by default; the URL is the gateway's, never BFL's 10-minute one.
    const url = answer.body.data?.[0]?.url ?? '';
    expect(url.startsWith(rig.gateway.url)).toBe(true);
    expect(url).not.toContain(new URL(rig.fake.url).port);
    const [image] = await imagesOf(rig.gateway, answer);
    expect(image?.format).toBe('png');
    expect(ratioOf(image ?? { width: 0, height: 1 })).toBeCloseTo(21 / 9, 1);

    const submit = rig.fake.requests.find((request) => request.method === 'POST' && request.path === '/v1/flux-kontext-pro');
    expect(submit?.headers['x-key']).toBe(bflFakeApiKey);
    expect(submit?.json).toMatchObject({ prompt: 'a fjord at dawn', aspect_ratio: '21:9', output_format: 'png' });
    // Polled verbatim at the shard host the submit answer named (localhost), not rebuilt from the base URL.
    const polls = rig.fake.requests.filter((request) => request.path.startsWith('/v1/get_result'));
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((request) => request.headers.host === rig.fake.pollingBase.replace('http://', ''))).toBe(true);
  });

  it('sends a catalog size as BFL width/height and returns the image as base64 in the asked format', async () => {
    const answer = await generate(rig.gateway, { model: 'flux-1.1-pro', prompt: 'a red barn', size: '1024x768', output_format: 'webp', response_format: 'b64_json' });
    const [image] = await imagesOf(rig.gateway, answer);
    // BFL writes png or jpeg: png was asked upstream and the gateway converted it, saying so.
    expect([image?.format, image?.width, image?.height]).toEqual(['webp', 1024, 768]);
    const submit = [...rig.fake.requests].reverse().find((request) => request.path === '/v1/flux-pro-1.1');
    expect(submit?.json).toMatchObject({ width: 1024, height: 768, output_format: 'png' });
    expect(answer.headers.get('x-imagegate-warnings')).toContain('png was requested and the gateway converts it to webp');
  });

  it('fans n: 3 out into three BFL tasks, one image each', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'flux-1.1-pro-ultra', prompt: 'three moons', n: 3, response_format: 'b64_json' });
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(3);
    expect(rig.fake.submissions - before).toBe(3);
    // Ultra's default is 16:9 at about 4 MP.
    for (const image of images) expect(ratioOf(image)).toBeCloseTo(16 / 9, 1);
    expect(new Set(images.map((image) => image.data.toString('base64'))).size).toBe(3);
  });

  it('edits with flux-kontext-pro: the input image goes to BFL as input_image', async () => {
    const source = await inputImage(640, 480);
    const answer = await edit(rig.gateway, { model: 'flux-kontext-pro', prompt: 'make it night', aspect_ratio: '4:3', response_format: 'b64_json' }, [source]);
    const [image] = await imagesOf(rig.gateway, answer);
    // About 1 MP at the asked ratio.
    expect(ratioOf(image ?? { width: 0, height: 1 })).toBeCloseTo(4 / 3, 1);
    const submit = [...rig.fake.requests].reverse().find((request) => request.path === '/v1/flux-kontext-pro');
    const sent = submit?.json as Record<string, unknown>;
    expect((await decode(Buffer.from(String(sent['input_image']), 'base64'))).width).toBe(640);
  });

  it('edits with flux-2-pro from two references at a free size on its 16-pixel grid', async () => {
    const answer = await edit(rig.gateway, { model: 'flux-2-pro', prompt: 'combine them', size: '1440x816', response_format: 'b64_json' }, [
      await inputImage(320, 240),
      await inputImage(200, 200),
    ]);
    const [image] = await imagesOf(rig.gateway, answer);
    // The catalog's FLUX.2 default format is jpeg, as BFL's.
    expect([image?.format, image?.width, image?.height]).toEqual(['jpeg', 1440, 816]);
    const submit = [...rig.fake.requests].reverse().find((request) => request.path === '/v1/flux-2-pro');
    const sent = submit?.json as Record<string, unknown>;
    expect(sent).toMatchObject({ width: 1440, height: 816, output_format: 'jpeg' });
    expect([typeof sent['input_image'], typeof sent['input_image_2']]).toEqual(['string', 'string']);
  });

  it('maps Request Moderated to a 400 content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'flux-kontext-pro', prompt: 'something flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.message).toContain('prompt or input image was flagged');
    expect(answer.body.error?.['moderation_details']).toEqual({ moderation_stage: 'input', categories: ['Derivative Works Filter'] });
  });

  it('maps Content Moderated to a 400 content_policy_violation about the output', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'flux-kontext-pro', prompt: 'something that renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.message).toContain('generated image was flagged');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });
  });

  it("passes BFL's 429 on with its retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 7;
    const answer = await generate(rig.gateway, { model: 'flux-kontext-pro', prompt: 'busy' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(answer.body.error?.code).toBe('upstream_rate_limited');
  });

  it('answers 502 when the result URL expired before the download, saying so', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const answer = await generate(rig.gateway, { model: 'flux-kontext-pro', prompt: 'too slow' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.code).toBe('upstream_error');
    expect(answer.body.error?.message).toMatch(/could not be downloaded \(HTTP 403\); it may have expired/);
  });

  it('delivers the images that came when one of three tasks fails, with a warning naming the count', async () => {
    rig.fake.switches.pollsBeforeReady = 5;
    const before = new Set(rig.fake.tasks.keys());
    const pending = generate(rig.gateway, { model: 'flux-1.1-pro', prompt: 'two of three', n: 3, response_format: 'b64_json' });
    await waitUntil(() => rig.fake.tasks.size - before.size === 3, 'three tasks are submitted');
    const doomed = [...rig.fake.tasks.values()].find((task) => !before.has(task.id));
    if (doomed === undefined) throw new Error('no task');
    doomed.taskError = 'GPU fell over';
    const answer = await pending;
    expect(answer.status).toBe(200);
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(2);
    expect(answer.headers.get('x-imagegate-warnings')).toContain('delivered 2 of 3 images');
  });

  it('stops polling BFL when the client aborts (BFL has no cancel endpoint)', async () => {
    rig.fake.switches.pollsBeforeReady = 100_000;
    const controller = new AbortController();
    const pending = generateAbortable(rig.gateway, { model: 'flux-kontext-pro', prompt: 'abandoned' }, controller.signal).catch((error: unknown) => error);
    await waitUntil(() => rig.fake.polls > 0 && [...rig.fake.tasks.values()].some((task) => task.body['prompt'] === 'abandoned' && task.polls >= 3), 'the task is being polled');
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    const task = [...rig.fake.tasks.values()].find((candidate) => candidate.body['prompt'] === 'abandoned');
    // Let an in-flight poll land, then the count must stay put over many poll intervals (10 ms each).
    await sleep(200);
    const settled = task?.polls ?? 0;
    await sleep(400);
    expect(task?.polls).toBe(settled);
    expect(task?.finalStatus).toBeUndefined();
  });
});

describe('BFL with a key it rejects', () => {
  it('answers 502 upstream_auth_failed without the key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [bflChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'flux-kontext-pro', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
      expect(answer.text).not.toContain(wrongKey.slice(0, 12));
    } finally {
      await rejected.close();
    }
  });
});
