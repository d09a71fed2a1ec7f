// Behaviour of the Kling adapter against the Kling fake over real HTTP: the signed token and the body
// Kling receives, what the gateway gets back, and how each failure maps.

import { decodeJwt, decodeProtectedHeader } from 'jose';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../../core/ports/clock.js';
import type { ImageCallOptions, ImageModel, UpstreamJobRef } from '../../core/ports/image-model.js';
import { klingFakeAccessKey, klingFakeApiKey, klingFakeSecretKey, startKlingFake, type KlingFake } from '../../testing/fakes/kling.js';
import { gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import { createKlingProvider } from './index.js';

const clock = manualClock();
const upstream = useUpstreamFake<KlingFake>(() => startKlingFake({ clock }), 'test');

function model(name: string, overrides: { apiKey?: string; timeoutMs?: number } = {}): ImageModel {
  clock.set(Date.now());
  return createKlingProvider({
    channel: 'kling-test',
    baseURL: upstream.fake.url,
    apiKey: overrides.apiKey ?? klingFakeApiKey,
    http: upstream.http,
    pollIntervalMs: 5,
    timeoutMs: overrides.timeoutMs ?? 10_000,
  })(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'kling-v2-1', prompt: 'a paper boat on a pond', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', ...overrides });
}

function submits(): Record<string, unknown>[] {
  return upstream.fake.requests.filter((request) => request.method === 'POST').map((request) => request.json as Record<string, unknown>);
}

async function picture(width: number, height: number, format: 'png' | 'jpeg' | 'webp' = 'png'): Promise<{ data: Buffer; mediaType: 'image/png' | 'image/jpeg' | 'image/webp'; width: number; height: number }> {
  const data = await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 90, b: 30 } } }).toFormat(format).toBuffer();
  return { data, mediaType: `image/${format}`, width, height };
}

describe('Kling adapter: generation', () => {
  it('signs an HS256 JWT from the key pair, submits model_name/prompt/n/aspect_ratio/resolution, records the task and returns its image URLs', async () => {
    const jobs: { job: UpstreamJobRef; queriesSoFar: number }[] = [];
    const result = await model('kling-v2-1').generate(
      callOptions({
        n: 3,
        size: { width: 1344, height: 768 },
        aspectRatio: '16:9',
        onUpstreamJob: (job) => {
          jobs.push({ job, queriesSoFar: upstream.fake.queries });
        },
      }),
    );
    const submit = upstream.fake.requests.find((request) => request.method === 'POST');
    expect(submit?.path).toBe('/v1/images/generations');
    expect(submit?.json).toEqual({ model_name: 'kling-v2-1', prompt: 'a paper boat on a pond', n: 3, aspect_ratio: '16:9', resolution: '1k' });
    const authorization = String(submit?.headers['authorization']);
    expect(authorization).toMatch(/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/);
    const token = authorization.slice('Bearer '.length);
    expect(decodeProtectedHeader(token)).toEqual({ alg: 'HS256', typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(claims.iss).toBe(klingFakeAccessKey);
    expect((claims.exp ?? 0) - (claims.nbf ?? 0)).toBe(1805);
    expect(authorization).not.toContain(klingFakeSecretKey);

    const [taskId] = [...upstream.fake.tasks.keys()];
    expect(jobs).toEqual([{ job: { provider: 'kling', data: { task_id: taskId } }, queriesSoFar: 0 }]);
    const queries = upstream.fake.requests.filter((request) => request.method === 'GET');
    expect(queries.map((request) => request.path)).toEqual(Array(3).fill(`/v1/images/generations/${taskId}`));
    expect(result.upstreamRequestId).toBe(taskId);
    expect(result.warnings).toEqual([]);
    expect(result.images).toHaveLength(3);
    const first = result.images[0];
    if (first?.kind !== 'url') throw new Error('expected a URL');
    const downloaded = await fetch(first.url);
    const metadata = await sharp(Buffer.from(await downloaded.arrayBuffer())).metadata();
    expect(metadata.width! / metadata.height!).toBeCloseTo(16 / 9, 1);
  });

  it('asks kling-v3 for 2k when 2048 pixels are wanted, and maps 2k to 1k with a warning on a 1K-only model', async () => {
    await model('kling-v3').generate(callOptions({ size: { width: 2048, height: 2048 } }));
    expect(submits()[0]).toMatchObject({ model_name: 'kling-v3', resolution: '2k', aspect_ratio: '1:1' });
    const mapped = await model('kling-v1').generate(callOptions({ size: { width: 2048, height: 2048 } }));
    expect(submits()[1]).toMatchObject({ model_name: 'kling-v1', resolution: '1k' });
    expect(mapped.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size', message: expect.stringContaining('1k tier at 1:1') }));
  });

  it('maps 21:9 on kling-v1 (no 21:9) to the nearest ratio it has, with a warning', async () => {
    const result = await model('kling-v1').generate(callOptions({ size: { width: 1568, height: 672 }, aspectRatio: '21:9' }));
    expect(submits()[0]?.['aspect_ratio']).toBe('16:9');
    expect(result.warnings).toContainEqual(expect.objectContaining({ param: 'size' }));
  });

  it("passes Kling's own fields through, keeps the gateway's, and reports what Kling has no field for", async () => {
    const result = await model('kling-v3').generate(
      callOptions({ providerOptions: { negative_prompt: 'text, watermark', n: 9, callback_url: 'https://example.com/hook' }, seed: 7, quality: 'high', style: 'vivid', user: 'u1' }),
    );
    expect(submits()[0]).toMatchObject({ negative_prompt: 'text, watermark', n: 1 });
    expect(submits()[0]).not.toHaveProperty('callback_url');
    expect(result.warnings.map((warning) => warning.param)).toEqual(expect.arrayContaining(['seed', 'quality', 'style', 'user', 'n', 'callback_url']));
  });

  it('refuses a model name Kling does not have before sending anything', () => {
    expect(() => model('kling-v9')).toThrow(/not a Kling image model/);
  });

  it("refuses an api_key that is not '<access key>:<secret key>' without echoing it", () => {
    expect(() => model('kling-v1', { apiKey: 'just-one-key-123456' })).toThrow(/must be '<access key>:<secret key>'/);
    try {
      model('kling-v1', { apiKey: 'just-one-key-123456' });
    } catch (error) {
      expect(String(error)).not.toContain('just-one-key-123456');
    }
  });
});

describe('Kling adapter: reference images (edits)', () => {
  it('sends kling-v1-5 the image as bare base64 with image_reference subject, 1k', async () => {
    const source = await picture(640, 480);
    await model('kling-v1-5').edit!(callOptions({ images: [source], size: { width: 1024, height: 768 }, aspectRatio: '4:3' }));
    const body = submits()[0] ?? {};
    expect(body).toMatchObject({ model_name: 'kling-v1-5', image_reference: 'subject', aspect_ratio: '4:3', resolution: '1k' });
    expect(Buffer.from(String(body['image']), 'base64').equals(source.data)).toBe(true);
  });

  it('lets the client choose face, and sends webp as png', async () => {
    const result = await model('kling-v1-5').edit!(callOptions({ images: [await picture(512, 512, 'webp')], providerOptions: { image_reference: 'face', image_fidelity: 0.8 } }));
    const body = submits()[0] ?? {};
    expect(body).toMatchObject({ image_reference: 'face', image_fidelity: 0.8 });
    expect((await sharp(Buffer.from(String(body['image']), 'base64')).metadata()).format).toBe('png');
    expect(result.warnings).toContainEqual(expect.objectContaining({ param: 'image', type: 'mapped' }));
  });

  it('refuses references Kling would refuse (under 300 px, beyond 2.5:1, more than one) without submitting', async () => {
    const tooSmall = await gatewayErrorOf(model('kling-v2-1').edit!(callOptions({ images: [await picture(200, 400)] })));
    expect([tooSmall.code, tooSmall.param]).toEqual(['invalid_value', 'image']);
    const tooWide = await gatewayErrorOf(model('kling-v2-1').edit!(callOptions({ images: [await picture(1300, 500)] })));
    expect(tooWide.message).toContain('1:2.5 and 2.5:1');
    const two = await gatewayErrorOf(model('kling-v2-1').edit!(callOptions({ images: [await picture(400, 400), await picture(400, 400)] })));
    expect(two.message).toContain('one reference image');
    expect(upstream.fake.submissions).toBe(0);
  });

  it('offers edit on the models that take an image and not on kling-v3', () => {
    expect(model('kling-v3').operations).toEqual(['generate']);
    expect(model('kling-v3').edit).toBeUndefined();
    for (const name of ['kling-v1', 'kling-v1-5', 'kling-v2', 'kling-v2-1']) expect(model(name).operations).toEqual(['generate', 'edit']);
  });
});

describe('Kling adapter: failures', () => {
  it('maps 1302 to upstream_rate_limited with the retry-after', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 9;
    const error = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect([error.code, error.retryable, error.retryAfterSeconds]).toEqual(['upstream_rate_limited', true, 9]);
  });

  it('maps 1303 (concurrency over the resource pack) to upstream_rate_limited, one second by default', async () => {
    const small = await startKlingFake({ maxConcurrency: 4 });
    try {
      const factory = createKlingProvider({ channel: 'k', baseURL: small.url, apiKey: klingFakeApiKey, http: upstream.http, pollIntervalMs: 5 });
      const error = await gatewayErrorOf(factory('kling-v1').generate(callOptions({ n: 5 })));
      expect([error.code, error.retryAfterSeconds]).toEqual(['upstream_rate_limited', 1]);
      expect(error.message).toContain('1303');
    } finally {
      await small.close();
    }
  });

  it('maps 1102 (resource pack used up) to upstream_out_of_funds, not to bad credentials', async () => {
    upstream.fake.switches.outOfFunds = true;
    const error = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_out_of_funds', true]);
  });

  it('maps 1301 at submission to content_policy_violation about the input', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.toBody().error).toMatchObject({ moderation_details: { moderation_stage: 'input' } });
  });

  it('maps a task failed by risk control to content_policy_violation about the output', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.toBody().error).toMatchObject({ moderation_details: { moderation_stage: 'output', categories: ['Failure to pass the risk control system'] } });
  });

  it('maps another failed task to a non-retryable upstream_error with its task_status_msg', async () => {
    upstream.fake.switches.taskError = 'Image pixel is invalid';
    const error = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_error', false]);
    expect(error.message).toContain('Image pixel is invalid');
  });

  it('maps a wrong secret key (1000-1004) to upstream_auth_failed without either key in the message', async () => {
    const wrong = `${klingFakeAccessKey}:SKwrong_secret_0000000000`;
    const error = await gatewayErrorOf(model('kling-v1', { apiKey: wrong }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_auth_failed', false]);
    expect(error.message).not.toContain('SKwrong_secret');
    expect(error.message).not.toContain(klingFakeAccessKey);
  });

  it('is refused with 1004 once its token has expired at Kling (the fake checks exp against its clock)', async () => {
    const kling = model('kling-v1');
    clock.advance(31 * 60 * 1000);
    const error = await gatewayErrorOf(kling.generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.message).toContain('1004');
  });

  it('maps 1103 (no access to this model) to a retryable upstream_error, not to bad credentials', async () => {
    upstream.fake.switches.failStatus = 403;
    const error = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_error', true]);
    expect(error.message).toContain('no access to this model');
  });

  it('maps a 5000 to a retryable upstream_error and a malformed answer to upstream_invalid_response', async () => {
    upstream.fake.switches.failStatus = 500;
    const failed = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect([failed.code, failed.retryable]).toEqual(['upstream_error', true]);
    delete upstream.fake.switches.failStatus;
    upstream.fake.switches.malformed = true;
    const malformed = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect(malformed.code).toBe('upstream_invalid_response');
  });

  it('reports a task_status outside the four at once, and times out a task that never ends', async () => {
    upstream.fake.switches.unknownStatus = 'queueing';
    const unknown = await gatewayErrorOf(model('kling-v1').generate(callOptions()));
    expect([unknown.code, unknown.retryable]).toEqual(['upstream_invalid_response', false]);
    delete upstream.fake.switches.unknownStatus;
    upstream.fake.switches.pollsBeforeReady = 1_000_000;
    const slow = await gatewayErrorOf(model('kling-v1', { timeoutMs: 60 }).generate(callOptions()));
    expect(slow.code).toBe('upstream_timeout');
  });

  it('returns only the images Kling delivered when it delivered fewer than n', async () => {
    upstream.fake.switches.maxImages = 2;
    const result = await model('kling-v1').generate(callOptions({ n: 4 }));
    expect(result.images).toHaveLength(2);
  });
});

describe('Kling adapter: resume', () => {
  it('polls the recorded task id without submitting again', async () => {
    upstream.fake.switches.pollsBeforeReady = 3;
    const controller = new AbortController();
    let recorded: UpstreamJobRef | undefined;
    const first = model('kling-v2').generate(
      callOptions({
        n: 2,
        abortSignal: controller.signal,
        onUpstreamJob: (job) => {
          recorded = job;
          controller.abort(new Error('the gateway stopped'));
        },
      }),
    );
    await expect(first).rejects.toThrow('the gateway stopped');
    expect(upstream.fake.submissions).toBe(1);
    const result = await model('kling-v2').resume!(recorded!, callOptions({ n: 2 }));
    expect(upstream.fake.submissions).toBe(1);
    expect(result.images).toHaveLength(2);
    expect(result.upstreamRequestId).toBe(recorded?.data['task_id']);
  });

  it('refuses a recorded job of another provider', async () => {
    const error = await gatewayErrorOf(model('kling-v2').resume!({ provider: 'bfl', data: { id: 'x' } }, callOptions()));
    expect(error.code).toBe('server_error');
  });
});
