// Kling end to end: OpenAI-format requests through the gateway over HTTP to the Kling fake (a JWT signed
// from the channel's key pair, create task → query task → CDN URLs re-hosted), and a gateway killed with
// SIGKILL while Kling tasks run: the restarted gateway polls the recorded task ids instead of creating
// (and paying for) new tasks.

import { join } from 'node:path';
import { decodeJwt } from 'jose';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { klingFakeAccessKey, klingFakeApiKey, klingFakeSecretKey, startKlingFake, type KlingFake } from '../../src/testing/fakes/kling.js';
import { apiKey } from './child-gateway.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { decode, edit, generate, imagesOf, inputImage, ratioOf, useProviderRig } from './providers-support.js';
import { withGatewayKilledMidJobs } from './mid-job-restart.js';
import { call, waitForTask } from './task-helpers.js';

const wrongSecret = 'SKwrong_do_not_echo_5b2f9c77d1';

function klingChannel(fake: KlingFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return {
    name: 'kling',
    provider: 'kling',
    base_url: fake.url,
    api_key: klingFakeApiKey,
    models: ['kling-v1', 'kling-v1-5', 'kling-v2', 'kling-v2-1', 'kling-v3'],
    poll_interval_ms: 10,
    timeout_ms: 20_000,
    ...overrides,
  };
}

const rig = useProviderRig(startKlingFake, (fake) => [klingChannel(fake)]);

function lastSubmit(): Record<string, unknown> {
  const submit = [...rig.fake.requests].reverse().find((request) => request.method === 'POST' && request.path === '/v1/images/generations');
  return (submit?.json ?? {}) as Record<string, unknown>;
}

describe('Kling through the gateway', () => {
  it('serves kling-v2-1 n: 2 at 16:9 from one Kling task, re-hosted on the gateway', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'kling-v2-1', prompt: 'a lantern festival', n: 2, aspect_ratio: '16:9' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('kling');
    const urls = (answer.body.data ?? []).map((item) => item.url ?? '');
    expect(urls.every((url) => url.startsWith(rig.gateway.url))).toBe(true);
    const images = await imagesOf(rig.gateway, answer);
    expect(images).toHaveLength(2);
    for (const image of images) expect(ratioOf(image)).toBeCloseTo(16 / 9, 1);
    expect(rig.fake.submissions - before).toBe(1);
    expect(lastSubmit()).toEqual({ model_name: 'kling-v2-1', prompt: 'a lantern festival', n: 2, aspect_ratio: '16:9', resolution: '1k' });
    const submit = [...rig.fake.requests].reverse().find((request) => request.method === 'POST');
    const token = String(submit?.headers['authorization']).replace(/^Bearer /, '');
    expect(decodeJwt(token).iss).toBe(klingFakeAccessKey);
  });

  it('asks kling-v3 for 2k when 2048x2048 is wanted, and returns the 2K image as b64_json in the asked format', async () => {
    const answer = await generate(rig.gateway, { model: 'kling-v3', prompt: 'a glacier', size: '2048x2048', output_format: 'jpeg', response_format: 'b64_json' });
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['jpeg', 2048, 2048]);
    expect(lastSubmit()).toMatchObject({ model_name: 'kling-v3', resolution: '2k', aspect_ratio: '1:1' });
  });

  it('edits with kling-v1-5: the image goes to Kling as base64 with image_reference subject', async () => {
    const source = await inputImage(640, 480);
    const answer = await edit(rig.gateway, { model: 'kling-v1-5', prompt: 'the same person as an astronaut', response_format: 'b64_json' }, [source]);
    const [image] = await imagesOf(rig.gateway, answer);
    // No size asked: the input's 4:3 shape is kept, at 1K.
    expect(ratioOf(image ?? { width: 0, height: 1 })).toBeCloseTo(4 / 3, 1);
    const sent = lastSubmit();
    expect(sent).toMatchObject({ model_name: 'kling-v1-5', image_reference: 'subject', aspect_ratio: '4:3' });
    expect((await decode(Buffer.from(String(sent['image']), 'base64'))).width).toBe(640);
  });

  it('answers 400 for a reference under 300 px before anything reaches Kling', async () => {
    const before = rig.fake.submissions;
    const answer = await edit(rig.gateway, { model: 'kling-v2-1', prompt: 'tiny' }, [await inputImage(200, 200)]);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatchObject({ code: 'invalid_value', param: 'image' });
    expect(rig.fake.submissions).toBe(before);
  });

  it('runs as an async task to succeeded', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'kling-v1', prompt: 'a tea house', aspect_ratio: '3:2' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
    const entry = task.result?.data?.[0] as { url?: string; b64_json?: string } | undefined;
    const bytes = entry?.b64_json !== undefined ? Buffer.from(entry.b64_json, 'base64') : Buffer.from(await (await fetch(String(entry?.url))).arrayBuffer());
    const metadata = await sharp(bytes).metadata();
    expect((metadata.width ?? 0) / (metadata.height ?? 1)).toBeCloseTo(3 / 2, 1);
  });

  it('maps 1301 at submission to a 400 content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'kling-v1', prompt: 'something flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'input' });
  });

  it('maps a task failed by risk control to a 400 content_policy_violation about the output', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'kling-v1', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toEqual({ moderation_stage: 'output', categories: ['Failure to pass the risk control system'] });
  });

  it("passes Kling's 1302 on as 429 with its retry-after", async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 6;
    const answer = await generate(rig.gateway, { model: 'kling-v1', prompt: 'busy' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('6');
    expect(answer.body.error?.code).toBe('upstream_rate_limited');
  });

  it('answers 502 when the result URL is gone before the download, saying so', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const answer = await generate(rig.gateway, { model: 'kling-v1', prompt: 'too slow' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.message).toMatch(/could not be downloaded \(HTTP 404\); it may have expired/);
  });
});

describe('Kling refusing the account', () => {
  it('answers 502 upstream_auth_failed without either key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [klingChannel(rig.fake, { api_key: `${klingFakeAccessKey}:${wrongSecret}` })] });
    try {
      const answer = await generate(rejected, { model: 'kling-v1', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongSecret);
      expect(answer.text).not.toContain(klingFakeAccessKey);
    } finally {
      await rejected.close();
    }
  });
  it('answers 502 upstream_out_of_funds when the resource pack is used up (1102)', async () => {
    // A gateway of its own: the router keeps a channel that ran out of credit out of the rotation.
    const broke = await startTestGateway({ channels: [klingChannel(rig.fake)] });
    try {
      rig.fake.switches.outOfFunds = true;
      const answer = await generate(broke, { model: 'kling-v1', prompt: 'no credit' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_out_of_funds');
      expect(answer.text).not.toContain(klingFakeSecretKey);
    } finally {
      await broke.close();
    }
  });
});

describe('a gateway killed while Kling tasks run', () => {
  it('resumes the recorded task ids after a restart: every task succeeds and none is created twice', { timeout: 90_000 }, async () => {
    // Tasks stay `processing` until the switch is lowered, so the kill finds them running at Kling.
    const slow = await startKlingFake({ switches: { pollsBeforeReady: 1_000_000 } });
    try {
      const config = {
        channels: [{ name: 'kling', provider: 'kling', base_url: slow.url, api_key: klingFakeApiKey, models: ['kling-v2-1'], poll_interval_ms: 50 }],
        tasks: { lease_ms: 1500 },
      };
      await withGatewayKilledMidJobs('imagegate-kling-restart-', config, async (rig) => {
        const ids = await rig.submitAsync(Array.from({ length: 3 }, (_, index) => ({ model: 'kling-v2-1', prompt: `durable ${index}`, n: 2, aspect_ratio: '1:1' })));
        // Killed only once every task is created at Kling and its id recorded: the restart must poll them.
        await rig.waitForRecordedJobs(3);
        // Each gateway task recorded the id of the Kling task it created.
        const recorded = rig.recordedJobs().join('\n');
        for (const taskId of slow.tasks.keys()) expect(recorded).toContain(`"task_id":"${taskId}"`);
        let queriesAtKill = 0;
        await rig.killAndRestart(() => {
          queriesAtKill = slow.queries;
          slow.switches.pollsBeforeReady = 0;
        });
        expect(await rig.statusesAtEnd(ids)).toEqual(['succeeded', 'succeeded', 'succeeded']);
        // Three tasks created in all, every one of them queried again after the restart.
        expect(slow.submissions).toBe(3);
        expect(slow.queries).toBeGreaterThan(queriesAtKill);
        const fetched = await call(rig.child.url, `/v1/images/tasks/${ids[0]}`, { key: apiKey });
        expect(fetched.body.result?.data).toHaveLength(2);
      });
    } finally {
      await slow.close();
    }
  });
});
