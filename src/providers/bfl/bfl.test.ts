// Behaviour of the BFL adapter against the BFL fake over real HTTP: what BFL receives, what the gateway gets back, and how failures map.

import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../core/errors.js';
import type { ImageCallOptions, ImageModel, UpstreamJobRef } from '../../core/ports/image-model.js';
import { startBflFake } from '../../testing/fakes/bfl.js';
import { gatewayErrorOf, imageCallOptions, useUpstreamFake } from '../../testing/provider-test-kit.js';
import { HttpClientError, type HttpClient } from '../shared/types.js';
import { createBflProvider } from './index.js';

const apiKey = 'bfl_secret_key_0123456789';
const upstream = useUpstreamFake(() => startBflFake({ apiKey }), 'test');

function model(name: string, overrides: { timeoutMs?: number; client?: HttpClient; apiKey?: string } = {}): ImageModel {
  const factory = createBflProvider({
    channel: 'bfl-test',
    baseURL: upstream.fake.url,
    apiKey: overrides.apiKey ?? apiKey,
    http: overrides.client ?? upstream.http,
    pollIntervalMs: 5,
    timeoutMs: overrides.timeoutMs ?? 10_000,
  });
  return factory(name);
}

function callOptions(overrides: Partial<ImageCallOptions> = {}): ImageCallOptions {
  return imageCallOptions({ model: 'flux-1.1-pro', prompt: 'a red fox in snow', size: { width: 1024, height: 1024 }, aspectRatio: '1:1', outputFormat: 'jpeg', ...overrides });
}

/** The JSON bodies BFL received on submission. */
function submittedBodies(): Record<string, unknown>[] {
  return upstream.fake.requests.filter((request) => request.method === 'POST').map((request) => request.json as Record<string, unknown>);
}

describe('BFL adapter: generation', () => {
  it('submits flux-1.1-pro with a snapped size and x-key, polls the returned URL verbatim, and returns the signed sample URL', async () => {
    const progress: number[] = [];
    const jobs: { job: UpstreamJobRef; pollsSoFar: number }[] = [];
    const result = await model('flux-1.1-pro').generate(
      callOptions({
        size: { width: 1792, height: 1024 },
        aspectRatio: '7:4',
        seed: 42,
        onProgress: (percent) => progress.push(percent),
        onUpstreamJob: (job) => {
          jobs.push({ job, pollsSoFar: upstream.fake.polls });
        },
      }),
    );

    const submit = upstream.fake.requests.find((request) => request.method === 'POST');
    expect(submit?.path).toBe('/v1/flux-pro-1.1');
    expect(submit?.headers['x-key']).toBe(apiKey);
    const body = submit?.json as Record<string, unknown>;
    expect(body).toMatchObject({ prompt: 'a red fox in snow', width: 1440, seed: 42, output_format: 'jpeg' });
    expect(body['height']).toBeGreaterThanOrEqual(800);
    expect(body['height']).toBeLessThanOrEqual(832);
    expect(Number(body['height']) % 32).toBe(0);
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));

    // Polls went to the polling_url's own host spelling (localhost), with the key.
    const polls = upstream.fake.requests.filter((request) => request.path.startsWith('/v1/get_result'));
    expect(polls).toHaveLength(3);
    for (const poll of polls) {
      expect(poll.headers.host).toBe(new URL(upstream.fake.pollingBase).host);
      expect(poll.headers['x-key']).toBe(apiKey);
    }

    expect(jobs).toHaveLength(1);
    expect(jobs[0]?.pollsSoFar).toBe(0);
    const taskId = [...upstream.fake.tasks.keys()][0];
    expect(jobs[0]?.job).toEqual({ provider: 'bfl', data: { id: taskId, polling_url: `${upstream.fake.pollingBase}/v1/get_result?id=${taskId}` } });
    expect(progress).toEqual([33, 67]);

    expect(result.upstreamRequestId).toBe(taskId);
    expect(result.images).toHaveLength(1);
    const image = result.images[0];
    expect(image?.kind).toBe('url');
    if (image?.kind !== 'url') return;
    const download = await upstream.http.request(image.url);
    expect(download.status).toBe(200);
    expect(await sharp(download.body).metadata()).toMatchObject({ format: 'jpeg', width: 1440, height: body['height'] });
  });

  it.each([
    ['flux-kontext-pro', '/v1/flux-kontext-pro'],
    ['flux-kontext-max', '/v1/flux-kontext-max'],
    ['flux-1.1-pro', '/v1/flux-pro-1.1'],
    ['flux-pro-1.1', '/v1/flux-pro-1.1'],
    ['flux-1.1-pro-ultra', '/v1/flux-pro-1.1-ultra'],
    ['flux-dev', '/v1/flux-dev'],
    ['flux-pro', '/v1/flux-pro'],
    ['flux-2-pro', '/v1/flux-2-pro'],
    ['flux-2-max', '/v1/flux-2-max'],
    ['flux-2-flex', '/v1/flux-2-flex'],
    ['flux-2-klein-4b', '/v1/flux-2-klein-4b'],
    ['flux-2-klein-9b', '/v1/flux-2-klein-9b'],
  ])('%s is submitted to %s and accepted by BFL', async (name, path) => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const result = await model(name).generate(callOptions({ model: name }));
    expect(upstream.fake.requests.find((request) => request.method === 'POST')?.path).toBe(path);
    expect(result.images[0]?.kind).toBe('url');
  });

  it('sends an unknown model name to /v1/<name>, which BFL answers 404', async () => {
    const error = await gatewayErrorOf(model('flux-imaginary').generate(callOptions()));
    expect(upstream.fake.requests[0]?.path).toBe('/v1/flux-imaginary');
    expect(error.code).toBe('invalid_value');
  });

  it('refuses model names that are not a path segment', () => {
    expect(() => model('../admin')).toThrow(GatewayError);
  });

  it('sends FLUX.2 sizes snapped to multiples of 16 within 4 MP', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const result = await model('flux-2-pro').generate(callOptions({ size: { width: 3000, height: 2000 }, aspectRatio: '3:2' }));
    const body = submittedBodies()[0] ?? {};
    const width = Number(body['width']);
    const height = Number(body['height']);
    expect(width % 16).toBe(0);
    expect(height % 16).toBe(0);
    expect(width * height).toBeLessThanOrEqual(2048 * 2048);
    expect(width / height).toBeCloseTo(1.5, 1);
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));
  });

  it('sends kontext an aspect_ratio string: 21:9 as asked, a too-wide ratio clamped with a warning', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const exact = await model('flux-kontext-pro').generate(callOptions({ size: { width: 1568, height: 672 }, aspectRatio: '21:9' }));
    const wide = await model('flux-kontext-pro').generate(callOptions({ size: { width: 1536, height: 512 }, aspectRatio: '3:1' }));
    const [first, second] = submittedBodies();
    expect(first).toMatchObject({ aspect_ratio: '21:9' });
    expect(first).not.toHaveProperty('width');
    expect(exact.warnings).toEqual([]);
    expect(second).toMatchObject({ aspect_ratio: '21:9' });
    expect(wide.warnings).toContainEqual(expect.objectContaining({ type: 'mapped', param: 'size' }));
  });

  it('merges providerOptions into the body as sent', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    await model('flux-1.1-pro-ultra').generate(
      callOptions({ size: { width: 2048, height: 2048 }, providerOptions: { safety_tolerance: 5, prompt_upsampling: true, raw: true, image_prompt_strength: 0.3 } }),
    );
    expect(submittedBodies()[0]).toMatchObject({ aspect_ratio: '1:1', safety_tolerance: 5, prompt_upsampling: true, raw: true, image_prompt_strength: 0.3 });
  });

  it('asks for png when webp is wanted, and reports options BFL cannot honour', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const result = await model('flux-1.1-pro').generate(
      callOptions({ outputFormat: 'webp', quality: 'high', style: 'vivid', background: 'transparent', outputCompression: 80, moderation: 'low', user: 'u-1' }),
    );
    expect(submittedBodies()[0]).toMatchObject({ output_format: 'png' });
    const byParam = Object.fromEntries(result.warnings.map((warning) => [warning.param, warning.type]));
    expect(byParam).toMatchObject({
      output_format: 'mapped',
      quality: 'unsupported',
      style: 'unsupported',
      background: 'unsupported',
      output_compression: 'unsupported',
      moderation: 'unsupported',
      user: 'unsupported',
    });
    expect(submittedBodies()[0]).not.toHaveProperty('quality');
  });

  it('gives up with upstream_timeout when the task never finishes', async () => {
    upstream.fake.switches.pollsBeforeReady = 1_000_000;
    const error = await gatewayErrorOf(model('flux-dev', { timeoutMs: 60 }).generate(callOptions()));
    expect(error.code).toBe('upstream_timeout');
    expect(error.status).toBe(504);
  });
});

describe('BFL adapter: edits', () => {
  async function png(width: number, height: number) {
    const data = await sharp({ create: { width, height, channels: 3, background: '#884422' } }).png().toBuffer();
    return { data, mediaType: 'image/png' as const, width, height };
  }

  it('offers edit only on kontext and FLUX.2 models', () => {
    expect(model('flux-kontext-pro').operations).toEqual(['generate', 'edit']);
    expect(model('flux-2-flex').operations).toEqual(['generate', 'edit']);
    expect(model('flux-1.1-pro').operations).toEqual(['generate']);
    expect(model('flux-1.1-pro').edit).toBeUndefined();
  });

  it('sends the first image as input_image and the others as input_image_2 …, and reports a mask as unsupported', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const first = await png(64, 48);
    const second = await png(32, 32);
    const edit = model('flux-kontext-pro').edit;
    expect(edit).toBeDefined();
    const result = await edit!(callOptions({ images: [first, second], mask: await png(64, 48), aspectRatio: '4:3', size: { width: 1184, height: 880 } }));
    const body = submittedBodies()[0] ?? {};
    expect(body['input_image']).toBe(first.data.toString('base64'));
    expect(body['input_image_2']).toBe(second.data.toString('base64'));
    expect(body).not.toHaveProperty('input_image_3');
    expect(result.warnings).toContainEqual(expect.objectContaining({ type: 'unsupported', param: 'mask' }));
  });

  // Issue 10 item 12: the official SDK's catalogue (src/bfl/_catalog.py) gives klein 9B five
  // reference slots and klein 4B four; the fake refuses a slot past the model's last.
  it('takes five references on flux-2-klein-9b and refuses a fifth on flux-2-klein-4b', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const images = await Promise.all(Array.from({ length: 5 }, () => png(32, 32)));
    await model('flux-2-klein-9b').edit!(callOptions({ images }));
    expect(submittedBodies()[0]).toHaveProperty('input_image_5');

    const error = await gatewayErrorOf(model('flux-2-klein-4b').edit!(callOptions({ images })));
    expect([error.code, error.param]).toEqual(['invalid_value', 'image']);
    expect(upstream.fake.submissions).toBe(1);
  });

  it('the fake refuses a reference slot the model does not have, as BFL validates the body', async () => {
    const response = await upstream.http.request(`${upstream.fake.url}/v1/flux-2-klein-4b`, {
      method: 'POST',
      headers: { 'x-key': apiKey },
      json: { prompt: 'x', input_image: 'https://example.com/a.png', input_image_5: 'https://example.com/e.png' },
    });
    expect(response.status).toBe(422);
    expect(JSON.parse(response.body.toString('utf8'))).toMatchObject({ detail: [{ loc: ['body', 'input_image_5'], type: 'extra_forbidden' }] });
  });

  it('takes up to 8 images on FLUX.2 pro and refuses a fifth on kontext', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const images = await Promise.all(Array.from({ length: 8 }, () => png(32, 32)));
    await model('flux-2-pro').edit!(callOptions({ images }));
    expect(submittedBodies()[0]).toHaveProperty('input_image_8');

    const error = await gatewayErrorOf(model('flux-kontext-max').edit!(callOptions({ images: images.slice(0, 5) })));
    expect(error.code).toBe('invalid_value');
    expect(error.param).toBe('image');
    expect(upstream.fake.submissions).toBe(1);
  });
});

describe('BFL adapter: jobs, resume and abort', () => {
  it('stops polling on abort, rethrows the abort reason, and resume finishes the same task without submitting again', async () => {
    upstream.fake.switches.pollsBeforeReady = 1_000_000;
    const controller = new AbortController();
    let recorded: UpstreamJobRef | undefined;
    const first = model('flux-dev').generate(
      callOptions({
        abortSignal: controller.signal,
        onUpstreamJob: (job) => {
          recorded = job;
        },
        onProgress: () => {
          // Abort once the job is running at BFL (the first Pending poll).
          controller.abort(new Error('client went away'));
        },
      }),
    );
    await expect(first).rejects.toThrow('client went away');
    const pollsAtAbort = upstream.fake.polls;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(upstream.fake.polls).toBe(pollsAtAbort);
    expect(recorded).toBeDefined();

    upstream.fake.switches.pollsBeforeReady = 0;
    const resumed = await model('flux-dev').resume!(recorded!, callOptions());
    expect(upstream.fake.submissions).toBe(1);
    expect(upstream.fake.polls).toBe(pollsAtAbort + 1);
    expect(resumed.images[0]?.kind).toBe('url');
    expect(resumed.upstreamRequestId).toBe(recorded?.data['id']);
  });

  it('answers upstream_error when resuming a task BFL no longer knows', async () => {
    const job = { provider: 'bfl', data: { id: 'gone', polling_url: `${upstream.fake.pollingBase}/v1/get_result?id=gone` } };
    const error = await gatewayErrorOf(model('flux-dev').resume!(job, callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.message).toContain('gone');
    expect(upstream.fake.submissions).toBe(0);
  });

  it('refuses to resume a job recorded by another provider', async () => {
    const error = await gatewayErrorOf(model('flux-dev').resume!({ provider: 'replicate', data: { id: 'x' } }, callOptions()));
    expect(error.code).toBe('server_error');
  });

  it('does not send the key to a polling_url outside BFL', async () => {
    const elsewhere = await startBflFake({ apiKey, pollingHost: 'poll.example.com' });
    try {
      const factory = createBflProvider({ channel: 'bfl-test', baseURL: elsewhere.url, apiKey, http: upstream.http, pollIntervalMs: 5 });
      const error = await gatewayErrorOf(factory('flux-dev').generate(callOptions()));
      expect(error.code).toBe('upstream_invalid_response');
      expect(elsewhere.polls).toBe(0);
    } finally {
      await elsewhere.close();
    }
  });

  it('keeps polling through a couple of transient poll failures, and gives up after three in a row', async () => {
    upstream.fake.switches.pollsBeforeReady = 0;
    const flaky = (failures: number): HttpClient => {
      let left = failures;
      return {
        request: async (url, options) => {
          if (url.includes('/get_result') && left > 0) {
            left -= 1;
            throw new HttpClientError('network', 'connection reset');
          }
          return upstream.http.request(url, options);
        },
      };
    };
    const recovered = await model('flux-dev', { client: flaky(2) }).generate(callOptions());
    expect(recovered.images).toHaveLength(1);
    const error = await gatewayErrorOf(model('flux-dev', { client: flaky(3) }).generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(true);
  });
});

describe('BFL adapter: moderation and task failures', () => {
  it('maps Request Moderated to an input content_policy_violation with the reasons', async () => {
    upstream.fake.switches.moderation = 'input';
    const error = await gatewayErrorOf(model('flux-kontext-pro').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.status).toBe(400);
    expect(error.message).toContain('prompt or input image');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'input', categories: ['Derivative Works Filter'] } });
  });

  it('maps Content Moderated to an output content_policy_violation', async () => {
    upstream.fake.switches.moderation = 'output';
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('content_policy_violation');
    expect(error.message).toContain('generated image');
    expect(error.details).toEqual({ moderation_details: { moderation_stage: 'output', categories: ['Sexual Content'] } });
  });

  it('maps a task Error to a non-retryable upstream_error carrying the details', async () => {
    upstream.fake.switches.taskError = 'Internal generation failure';
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('Internal generation failure');
  });

  // Issue 10 item 12: as the official SDK (src/bfl/_jobs.py), an unrecognized status is raised at
  // once, never polled until the timeout.
  it('fails at the first poll that reports a status outside BFL’s enum, without resubmitting', async () => {
    upstream.fake.switches.unknownStatus = 'Queued For Review';
    const error = await gatewayErrorOf(model('flux-1.1-pro', { timeoutMs: 60_000 }).generate(callOptions()));
    expect([error.code, error.retryable]).toEqual(['upstream_invalid_response', false]);
    expect(error.message).toContain('Queued For Review');
    expect(upstream.fake.polls).toBe(1);
    expect(upstream.fake.submissions).toBe(1);
  });

  it('answers upstream_invalid_response when Ready carries no sample', async () => {
    upstream.fake.switches.maxImages = 0;
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
  });
});

describe('BFL adapter: submit errors', () => {
  it('402 → retryable upstream_out_of_funds', async () => {
    upstream.fake.switches.failStatus = 402;
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('upstream_out_of_funds');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('out of credit');
  });

  it('422 → invalid_value naming the field BFL rejected', async () => {
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions({ providerOptions: { safety_tolerance: 9 } })));
    expect(error.code).toBe('invalid_value');
    expect(error.status).toBe(400);
    expect(error.message).toContain('safety_tolerance');
    expect(upstream.fake.submissions).toBe(0);
  });

  it('429 → upstream_rate_limited with retry-after', async () => {
    upstream.fake.switches.failStatus = 429;
    upstream.fake.switches.retryAfterSeconds = 7;
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('upstream_rate_limited');
    expect(error.retryAfterSeconds).toBe(7);
  });

  it('503 → retryable upstream_error', async () => {
    upstream.fake.switches.failStatus = 503;
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
    expect(error.status).toBe(502);
    expect(error.retryable).toBe(true);
  });

  it('a wrong key → upstream_auth_failed that never shows the key', async () => {
    const wrongKey = 'bfl_wrong_key_abcdefghijkl';
    const error = await gatewayErrorOf(model('flux-1.1-pro', { apiKey: wrongKey }).generate(callOptions()));
    expect(error.code).toBe('upstream_auth_failed');
    expect(error.message).not.toContain(wrongKey);
    expect(JSON.stringify(error.toBody())).not.toContain(wrongKey);
  });

  it('a truncated submit answer → upstream_invalid_response', async () => {
    upstream.fake.switches.malformed = true;
    const error = await gatewayErrorOf(model('flux-1.1-pro').generate(callOptions()));
    expect(error.code).toBe('upstream_invalid_response');
  });

  it('an unreachable upstream → upstream_error', async () => {
    const stopped = await startBflFake({ apiKey });
    const address = stopped.url;
    await stopped.close();
    const factory = createBflProvider({ channel: 'bfl-test', baseURL: address, apiKey, http: upstream.http, pollIntervalMs: 5 });
    const error = await gatewayErrorOf(factory('flux-dev').generate(callOptions()));
    expect(error.code).toBe('upstream_error');
  });

  it('uses https://api.bfl.ai when the channel names no base URL', async () => {
    const seen: string[] = [];
    const recording: HttpClient = {
      request: async (url) => {
        seen.push(url);
        throw new HttpClientError('network', 'offline');
      },
    };
    const factory = createBflProvider({ channel: 'bfl-test', baseURL: '', apiKey, http: recording });
    await gatewayErrorOf(factory('flux-1.1-pro').generate(callOptions()));
    expect(seen).toEqual(['https://api.bfl.ai/v1/flux-pro-1.1']);
  });
});
