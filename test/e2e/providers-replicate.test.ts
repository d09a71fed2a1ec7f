// Replicate end to end: OpenAI-format requests through the gateway over HTTP to the Replicate fake
// (create with Prefer: wait, poll, map outputs, cancel on abort).

import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { replicateFakeDefaultApiKey, startReplicateFake, type ReplicateFake } from '../../src/testing/fakes/replicate.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { generate, generateAbortable, imagesOf, ratioOf, useProviderRig, waitUntil } from './providers-support.js';

const wrongKey = 'r8_wrong_token_do_not_echo_4b8d02';

function replicateChannel(fake: ReplicateFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'replicate',
    provider: 'replicate',
    base_url: `${fake.url}/v1`,
    api_key: replicateFakeDefaultApiKey,
    models: ['flux-schnell', 'flux-1.1-pro', 'flux-kontext-pro'],
    model_map: {
      'flux-schnell': 'black-forest-labs/flux-schnell',
      'flux-1.1-pro': 'black-forest-labs/flux-1.1-pro',
      'flux-kontext-pro': 'black-forest-labs/flux-kontext-pro',
    },
    poll_interval_ms: 10,
    timeout_ms: 20_000,
    ...overrides,
  };
}

const rig = useProviderRig(startReplicateFake, (fake) => [replicateChannel(fake)]);

const creates = () => rig.fake.requests.filter((request) => request.method === 'POST' && request.path.endsWith('/predictions'));

describe('Replicate through the gateway', () => {
  it('asks flux-schnell for n images in one prediction at the asked ratio and re-hosts them on the gateway', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'a koi pond', n: 3, aspect_ratio: '16:9' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('replicate');
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(3);
    for (const image of images) {
      expect(image.format).toBe('png');
      expect(ratioOf(image)).toBeCloseTo(16 / 9, 1);
    }
    expect(rig.fake.submissions - before).toBe(1);
    const create = creates().at(-1);
    expect(create?.path).toBe('/v1/models/black-forest-labs/flux-schnell/predictions');
    expect(create?.headers['authorization']).toBe(`Bearer ${replicateFakeDefaultApiKey}`);
    expect(create?.headers['prefer']).toMatch(/^wait=\d+$/);
    expect(create?.json).toMatchObject({ input: { prompt: 'a koi pond', num_outputs: 3, aspect_ratio: '16:9', output_format: 'png' } });
  });

  it('splits n: 6 into predictions of at most four', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'six stones', n: 6, response_format: 'b64_json' });
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(6);
    expect(rig.fake.submissions - before).toBe(2);
    const counts = creates().slice(-2).map((request) => (request.json as { input: { num_outputs: number } }).input.num_outputs);
    expect(counts.sort()).toEqual([2, 4]);
  });

  it('fans n: 3 out into three predictions for a one-image model, and reads its single-URL output', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'flux-1.1-pro', prompt: 'three lanterns', n: 3, size: '1024x768', response_format: 'b64_json' });
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(3);
    expect(rig.fake.submissions - before).toBe(3);
    for (const image of images) expect(ratioOf(image)).toBeCloseTo(4 / 3, 1);
    expect(creates().slice(-3).every((request) => (request.json as { input: Record<string, unknown> }).input['num_outputs'] === undefined)).toBe(true);
  });

  it('polls a prediction that outlasts Prefer: wait until it succeeds', async () => {
    rig.fake.switches.pollsBeforeReady = 4;
    const answer = await generate(rig.gateway, { model: 'flux-kontext-pro', prompt: 'slow kontext', response_format: 'b64_json' });
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(1);
    const id = [...rig.fake.predictions.entries()].find(([, prediction]) => prediction.input['prompt'] === 'slow kontext')?.[0];
    expect(rig.fake.requests.filter((request) => request.method === 'GET' && request.path === `/v1/predictions/${id}`).length).toBeGreaterThanOrEqual(4);
  });

  it('maps E005 "flagged as sensitive" to a content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'flagged words' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it('maps "NSFW content detected" to a content_policy_violation about the output', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.message).toContain('generated image was flagged');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });
  });

  it('delivers the images that came when the safety checker dropped some, with a warning naming the count', async () => {
    rig.fake.switches.maxImages = 2;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'four, maybe', n: 4, response_format: 'b64_json' });
    expect(answer.status).toBe(200);
    expect(await imagesOf(rig.gateway, answer)).toHaveLength(2);
    expect(answer.headers.get('x-imagegate-warnings')).toContain('delivered 2 of 4 images');
  });

  it("passes Replicate's 429 on with its retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 12;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'throttled' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('12');
    expect(answer.body.error?.code).toBe('upstream_rate_limited');
  });

  it('answers a clear 502 when Replicate already deleted the outputs', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const answer = await generate(rig.gateway, { model: 'flux-schnell', prompt: 'gone already' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.message).toContain('already deleted the outputs');
  });

  it('cancels the prediction upstream when the client aborts', async () => {
    rig.fake.switches.pollsBeforeReady = 100_000;
    const cancelsBefore = rig.fake.cancels;
    const controller = new AbortController();
    const pending = generateAbortable(rig.gateway, { model: 'flux-schnell', prompt: 'never mind' }, controller.signal).catch((error: unknown) => error);
    const predictionId = () => [...rig.fake.predictions.entries()].find(([, prediction]) => prediction.input['prompt'] === 'never mind')?.[0];
    await waitUntil(() => {
      const id = predictionId();
      return id !== undefined && rig.fake.requests.some((request) => request.method === 'GET' && request.path === `/v1/predictions/${id}`);
    }, 'the prediction is being polled');
    controller.abort();
    expect(await pending).toBeInstanceOf(Error);
    await waitUntil(() => rig.fake.cancels > cancelsBefore, 'the gateway cancels the prediction');
    expect(rig.fake.requests.some((request) => request.method === 'POST' && request.path === `/v1/predictions/${predictionId()}/cancel`)).toBe(true);
    expect(rig.fake.predictions.get(predictionId() ?? '')?.status).toBe('canceled');
  });
});

describe('Replicate channel options', () => {
  it('max_images_per_call lowers how many outputs one prediction asks for', async () => {
    const limited = await startTestGateway({ channels: [replicateChannel(rig.fake, { options: { max_images_per_call: 2 } })] });
    try {
      const before = rig.fake.submissions;
      const answer = await generate(limited, { model: 'flux-schnell', prompt: 'two by two', n: 4, response_format: 'b64_json' });
      expect(await imagesOf(limited, answer)).toHaveLength(4);
      expect(rig.fake.submissions - before).toBe(2);
    } finally {
      await limited.close();
    }
  });
});

describe('Replicate with a token it rejects', () => {
  it('answers 502 upstream_auth_failed without the token anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [replicateChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'flux-schnell', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
    } finally {
      await rejected.close();
    }
  });
});
