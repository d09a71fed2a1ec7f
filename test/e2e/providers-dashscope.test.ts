// Alibaba DashScope end to end: OpenAI-format requests through the gateway over HTTP to the DashScope
// fake — the task API (submit, poll /api/v1/tasks/{id}, download the 24-hour OSS URL, re-host), the
// synchronous multimodal-generation API for generations and edits, async tasks, and a gateway killed
// with SIGKILL while DashScope tasks run: the restarted gateway polls the recorded task ids instead of
// submitting (and paying for) them again.

import { describe, expect, it } from 'vitest';
import type { ChannelConfig } from '../../src/config/schema.js';
import { dashScopeFakeApiKey, startDashScopeFake, type DashScopeFake } from '../../src/testing/fakes/dashscope.js';
import { apiKey } from './child-gateway.js';
import { startTestGateway } from '../../src/testing/gateway-harness.js';
import { decode, edit, generate, imagesOf, inputImage, useProviderRig } from './providers-support.js';
import { withGatewayKilledMidJobs } from './mid-job-restart.js';
import { call, waitForTask } from './task-helpers.js';

const wrongKey = 'sk-dashscope-wrong-do-not-echo-77';
const models = ['qwen-image-plus', 'qwen-image-max', 'qwen-image-2.0-pro', 'qwen-image-edit-plus', 'wan2.6-t2i', 'wan2.2-t2i-flash'];

function dashScopeChannel(fake: DashScopeFake, overrides: Partial<ChannelConfig> = {}): ChannelConfig {
  return { name: 'dashscope', provider: 'dashscope', base_url: fake.url, api_key: dashScopeFakeApiKey, models, poll_interval_ms: 10, timeout_ms: 20_000, ...overrides };
}

const rig = useProviderRig(startDashScopeFake, (fake) => [dashScopeChannel(fake)]);

/** The JSON DashScope last received on `path`. */
function lastBody(path: string): Record<string, unknown> {
  const request = [...rig.fake.requests].reverse().find((candidate) => candidate.method === 'POST' && candidate.path === path);
  return request?.json as Record<string, unknown>;
}

describe('DashScope through the gateway', () => {
  it('serves qwen-image-plus through the task API and re-hosts the 24-hour OSS URL', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'qwen-image-plus', prompt: '一只橘猫坐在窗台上', size: '1664x928' });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-imagegate-provider')).toBe('dashscope');
    const url = answer.body.data?.[0]?.url ?? '';
    expect(url.startsWith(rig.gateway.url)).toBe(true);
    expect(url).not.toContain('Expires=');
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.format, image?.width, image?.height]).toEqual(['png', 1664, 928]);
    expect(rig.fake.submissions - before).toBe(1);
    expect(lastBody('/api/v1/services/aigc/text2image/image-synthesis')).toEqual({
      model: 'qwen-image-plus',
      input: { prompt: '一只橘猫坐在窗台上' },
      parameters: { size: '1664*928', n: 1 },
    });
  });

  it('makes n: 3 wan2.2-t2i-flash images in one task (DashScope takes n up to 4) as b64_json in the asked format', async () => {
    const before = rig.fake.submissions;
    const answer = await generate(rig.gateway, { model: 'wan2.2-t2i-flash', prompt: 'three lanterns', n: 3, size: '1024x768', output_format: 'jpeg', response_format: 'b64_json', negative_prompt: 'text' });
    const images = await imagesOf(rig.gateway, answer);
    expect(images.map((image) => [image.format, image.width, image.height])).toEqual([
      ['jpeg', 1024, 768],
      ['jpeg', 1024, 768],
      ['jpeg', 1024, 768],
    ]);
    expect(rig.fake.submissions - before).toBe(1);
    expect(lastBody('/api/v1/services/aigc/text2image/image-synthesis')).toMatchObject({ input: { negative_prompt: 'text' }, parameters: { n: 3, size: '1024*768' } });
    expect(answer.headers.get('x-imagegate-warnings')).toContain('DashScope renders PNG');
  });

  it('serves wan2.6-t2i and qwen-image-2.0-pro through the synchronous API', async () => {
    const wan = await generate(rig.gateway, { model: 'wan2.6-t2i', prompt: 'a flower shop', size: '1280x720' });
    const [wanImage] = await imagesOf(rig.gateway, wan);
    expect([wanImage?.width, wanImage?.height]).toEqual([1280, 720]);
    const qwen = await generate(rig.gateway, { model: 'qwen-image-2.0-pro', prompt: 'a poster that says 你好', n: 2, size: '1536x1024', response_format: 'b64_json' });
    expect((await imagesOf(rig.gateway, qwen)).map((image) => image.width)).toEqual([1536, 1536]);
    const body = lastBody('/api/v1/services/aigc/multimodal-generation/generation');
    expect(body).toMatchObject({ model: 'qwen-image-2.0-pro', parameters: { n: 2, size: '1536*1024' } });
  });

  it('edits with qwen-image-edit-plus: the input image goes to DashScope as an image part before the text', async () => {
    const source = await inputImage(800, 600);
    const answer = await edit(rig.gateway, { model: 'qwen-image-edit-plus', prompt: 'make it night', size: '1024x768', response_format: 'b64_json' }, [source]);
    const [image] = await imagesOf(rig.gateway, answer);
    expect([image?.width, image?.height]).toEqual([1024, 768]);
    const content = (lastBody('/api/v1/services/aigc/multimodal-generation/generation')['input'] as { messages: { content: Record<string, string>[] }[] }).messages[0]?.content ?? [];
    expect(content.map((part) => Object.keys(part)[0])).toEqual(['image', 'text']);
    const sent = await decode(Buffer.from(String(content[0]?.['image']).replace(/^data:image\/png;base64,/, ''), 'base64'));
    expect([sent.width, sent.height]).toEqual([800, 600]);
  });

  it('answers 400 for a generation with the edit-only qwen-image-edit-plus, before calling DashScope', async () => {
    const before = rig.fake.requests.length;
    const answer = await generate(rig.gateway, { model: 'qwen-image-edit-plus', prompt: 'nothing to edit' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.type).toBe('invalid_request_error');
    expect(rig.fake.requests.length).toBe(before);
  });

  it('runs as an async task (?async=true) to succeeded', async () => {
    const submitted = await call(rig.gateway.url, '/v1/images/generations?async=true', { key: rig.gateway.apiKey, json: { model: 'wan2.2-t2i-flash', prompt: 'a lighthouse', size: '768x512' } });
    expect(submitted.status).toBe(202);
    const task = await waitForTask(rig.gateway.url, rig.gateway.apiKey, submitted.body.id);
    expect(task.status).toBe('succeeded');
  });

  it('maps DataInspectionFailed on the prompt to a 400 content_policy_violation about the input', async () => {
    rig.fake.switches.moderation = 'input';
    const answer = await generate(rig.gateway, { model: 'qwen-image-max', prompt: 'something flagged' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.code).toBe('content_policy_violation');
    expect(answer.body.error?.['moderation_details']).toEqual({ moderation_stage: 'input', categories: ['DataInspectionFailed'] });
  });

  it('maps a task that failed output moderation to a 400 content_policy_violation about the output', async () => {
    rig.fake.switches.moderation = 'output';
    const answer = await generate(rig.gateway, { model: 'wan2.2-t2i-flash', prompt: 'renders badly' });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.['moderation_details']).toMatchObject({ moderation_stage: 'output' });
  });

  it('passes Throttling on as a 429 with its retry-after', async () => {
    rig.fake.switches.failStatus = 429;
    rig.fake.switches.retryAfterSeconds = 7;
    const answer = await generate(rig.gateway, { model: 'wan2.2-t2i-flash', prompt: 'busy' });
    expect(answer.status).toBe(429);
    expect(answer.headers.get('retry-after')).toBe('7');
    expect(answer.body.error?.code).toBe('upstream_rate_limited');
  });

  it('answers 502 when the OSS result URL expired before the download, saying so', async () => {
    rig.fake.switches.resultUrlTtlMs = 0;
    const answer = await generate(rig.gateway, { model: 'wan2.2-t2i-flash', prompt: 'too slow' });
    expect(answer.status).toBe(502);
    expect(answer.body.error?.message).toMatch(/could not be downloaded \(HTTP 403\); it may have expired/);
  });
});

describe('DashScope with a key it rejects, or an account in arrears', () => {
  it('answers 502 upstream_auth_failed for InvalidApiKey without the key anywhere in the body', async () => {
    const rejected = await startTestGateway({ channels: [dashScopeChannel(rig.fake, { api_key: wrongKey })] });
    try {
      const answer = await generate(rejected, { model: 'wan2.2-t2i-flash', prompt: 'who am I' });
      expect(answer.status).toBe(502);
      expect(answer.body.error?.code).toBe('upstream_auth_failed');
      expect(answer.text).not.toContain(wrongKey);
    } finally {
      await rejected.close();
    }
  });

  it('fails Arrearage over to the next channel, which serves the image', async () => {
    const broke = await startDashScopeFake({ switches: { outOfFunds: true } });
    const failover = await startTestGateway({
      channels: [dashScopeChannel(broke, { name: 'dashscope-broke', priority: 10 }), dashScopeChannel(rig.fake, { name: 'dashscope-funded', priority: 0 })],
    });
    try {
      const answer = await generate(failover, { model: 'wan2.2-t2i-flash', prompt: 'paid for elsewhere', response_format: 'b64_json' });
      expect(answer.status).toBe(200);
      expect(await imagesOf(failover, answer)).toHaveLength(1);
      expect(broke.submissions).toBe(0);
      expect(broke.requests.some((request) => request.path === '/api/v1/services/aigc/text2image/image-synthesis')).toBe(true);
    } finally {
      await failover.close();
      await broke.close();
    }
  });
});

describe('a gateway killed while DashScope tasks run', () => {
  it('resumes the recorded task ids after a restart: every task succeeds and nothing is submitted twice', { timeout: 90_000 }, async () => {
    // Each task stays RUNNING for 60 polls (about 3 s at 50 ms): long enough to kill the gateway mid-task.
    const slow = await startDashScopeFake({ switches: { pollsBeforeReady: 60 } });
    try {
      const config = {
        channels: [{ name: 'dashscope', provider: 'dashscope', base_url: slow.url, api_key: dashScopeFakeApiKey, models: ['wan2.2-t2i-flash', 'qwen-image-plus'], poll_interval_ms: 50 }],
        tasks: { lease_ms: 1500 },
      };
      await withGatewayKilledMidJobs('imagegate-dashscope-restart-', config, async (rig) => {
        const ids = await rig.submitAsync([
          { model: 'wan2.2-t2i-flash', prompt: 'durable 0', size: '768x512' },
          { model: 'wan2.2-t2i-flash', prompt: 'durable 1', size: '768x512' },
          { model: 'qwen-image-plus', prompt: 'durable 2', size: '1328x1328' },
        ]);
        // Killed only once every task is submitted upstream and recorded: the restart must poll them.
        await rig.waitForRecordedJobs(3);
        // The recorded jobs are DashScope's own task ids, and every task is still running upstream.
        // Packed per upstream call (src/tasks/upstream-jobs.ts): {provider, data: {calls: [{provider, data: {task_id}}]}}.
        const recordedIds = rig.recordedJobs().flatMap((job) => (JSON.parse(job) as { data: { calls: { data: { task_id: string } }[] } }).data.calls.map((call) => call.data.task_id));
        expect(new Set(recordedIds)).toEqual(new Set(slow.tasks.keys()));
        expect([...slow.tasks.values()].every((task) => task.status === 'PENDING' || task.status === 'RUNNING')).toBe(true);
        await rig.killAndRestart();
        expect(await rig.statusesAtEnd(ids)).toEqual(['succeeded', 'succeeded', 'succeeded']);
        expect(slow.submissions).toBe(3);
        expect(slow.cancels).toBe(0);
        // Polled by the new process: every task ran its course at DashScope.
        expect([...slow.tasks.values()].every((task) => task.status === 'SUCCEEDED')).toBe(true);
        expect(await rig.firstImageWidth(ids[2] ?? '')).toBe(1328);
      });
    } finally {
      await slow.close();
    }
  });
});
