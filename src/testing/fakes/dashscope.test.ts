// The DashScope fake keeps DashScope's rules. Alibaba's official Node SDK (dashscope/dashscope-sdk-nodejs,
// "dashscope-sdk-official") is not published on the npm registry this project installs from, so the
// fake is driven here with the requests that SDK sends, copied from its source: ImageSynthesis.asyncCall
// posts {model, input: {prompt, negative_prompt}, parameters} with 'X-DashScope-Async: enable' and
// 'Authorization: Bearer …' (src/aigc/imageSynthesis/index.ts, src/common/baseApi.ts), fetch() GETs
// tasks/{task_id}, and waitForTask stops on FAILED, CANCELED, SUCCEEDED or UNKNOWN (src/common/consts.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashScopeFakeApiKey, startDashScopeFake, type DashScopeFake } from './dashscope.js';

/** What the official SDK's BaseApi.request sends. */
async function sdkRequest(fake: DashScopeFake, service: string, init: { method?: 'GET' | 'POST'; data?: unknown; headers?: Record<string, string>; key?: string } = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${fake.url}/api/v1/${service}`, {
    method: init.method ?? 'POST',
    headers: {
      Accept: 'application/json; charset=utf-8',
      Authorization: `Bearer ${init.key ?? dashScopeFakeApiKey}`,
      'Content-Type': 'application/json; charset=utf-8',
      ...init.headers,
    },
    ...(init.data === undefined ? {} : { body: JSON.stringify(init.data) }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** ImageSynthesis.asyncCall. */
const asyncCall = (fake: DashScopeFake, data: unknown, headers: Record<string, string> = { 'X-DashScope-Async': 'enable' }) =>
  sdkRequest(fake, 'services/aigc/text2image/image-synthesis', { data, headers });

/** waitForTask over ImageSynthesis.fetch. */
async function waitForTask(fake: DashScopeFake, taskId: string): Promise<Record<string, unknown>> {
  for (;;) {
    const { body } = await sdkRequest(fake, `tasks/${taskId}`, { method: 'GET', headers: { 'X-DashScope-Async': 'enable' } });
    const status = (body['output'] as { task_status?: string }).task_status ?? '';
    if (['FAILED', 'CANCELED', 'SUCCEEDED', 'UNKNOWN'].includes(status)) return body;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('DashScope fake, driven the way the official SDK calls it', () => {
  let running: DashScopeFake | undefined;
  const fake = (): DashScopeFake => {
    if (running === undefined) throw new Error('the fake is not running');
    return running;
  };
  beforeAll(async () => {
    running = await startDashScopeFake();
  });
  afterAll(async () => {
    await running?.close();
  });

  it('runs a task from PENDING to SUCCEEDED with results[].url and usage.image_count', async () => {
    const created = await asyncCall(fake(), { model: 'wan2.2-t2i-flash', input: { prompt: 'a cat', negative_prompt: 'dog' }, parameters: { size: '1024*768', n: 2 } });
    expect(created.status).toBe(200);
    const output = created.body['output'] as { task_status: string; task_id: string };
    expect(output.task_status).toBe('PENDING');
    const done = await waitForTask(fake(), output.task_id);
    expect(done['output']).toMatchObject({ task_status: 'SUCCEEDED', task_metrics: { TOTAL: 2, SUCCEEDED: 2, FAILED: 0 } });
    expect(done['usage']).toEqual({ image_count: 2 });
    const results = (done['output'] as { results: { url: string }[] }).results;
    const image = await fetch(results[0]?.url ?? '');
    expect([image.status, image.headers.get('content-type')]).toEqual([200, 'image/png']);
  });

  it('keeps the task API asynchronous only, and the sizes, n and seeds each model takes', async () => {
    const before = fake().submissions;
    const sync = await asyncCall(fake(), { model: 'wan2.2-t2i-flash', input: { prompt: 'a cat' }, parameters: {} }, {});
    expect([sync.status, sync.body['code']]).toEqual([403, 'AccessDenied']);
    const cases: [unknown, string][] = [
      [{ model: 'wan2.2-t2i-flash', input: { prompt: 'x' }, parameters: { size: '1024x1024' } }, 'width*height'],
      [{ model: 'wan2.2-t2i-flash', input: { prompt: 'x' }, parameters: { size: '1600*1024' } }, 'at most 1440'],
      [{ model: 'wan2.5-t2i-preview', input: { prompt: 'x' }, parameters: { size: '512*512' } }, 'at least 589824'],
      [{ model: 'wan2.5-t2i-preview', input: { prompt: 'x' }, parameters: { size: '1600*1600' } }, 'at most 2073600'],
      [{ model: 'wan2.5-t2i-preview', input: { prompt: 'x' }, parameters: { size: '3000*600' } }, 'within 1:4 and 4:1'],
      [{ model: 'qwen-image-plus', input: { prompt: 'x' }, parameters: { size: '1024*1024' } }, 'one of 1664*928'],
      [{ model: 'qwen-image-plus', input: { prompt: 'x' }, parameters: { n: 2 } }, 'from 1 to 1'],
      [{ model: 'wan2.2-t2i-flash', input: { prompt: 'x' }, parameters: { n: 5 } }, 'from 1 to 4'],
      [{ model: 'wan2.2-t2i-flash', input: { prompt: 'x' }, parameters: { seed: -1 } }, '[0, 2147483647]'],
      [{ model: 'qwen-image-max', input: { prompt: 'x' }, parameters: {} }, 'does not support this API'],
    ];
    for (const [data, message] of cases) {
      const answer = await asyncCall(fake(), data);
      expect([answer.status, answer.body['code']], JSON.stringify(data)).toEqual([400, 'InvalidParameter']);
      expect(String(answer.body['message'])).toContain(message);
    }
    expect(fake().submissions).toBe(before);
  });

  it('answers the multimodal call with choices[].message.content[].image and checks its messages', async () => {
    const ok = await sdkRequest(fake(), 'services/aigc/multimodal-generation/generation', {
      data: { model: 'qwen-image-2.0-pro', input: { messages: [{ role: 'user', content: [{ text: 'a poster' }] }] }, parameters: { n: 2, size: '1536*1024' } },
    });
    expect(ok.status).toBe(200);
    const content = (ok.body['output'] as { choices: { message: { content: { image: string }[] } }[] }).choices[0]?.message.content ?? [];
    expect(content).toHaveLength(2);
    expect(ok.body['usage']).toMatchObject({ image_count: 2, width: 1536, height: 1024 });
    const twoTexts = await sdkRequest(fake(), 'services/aigc/multimodal-generation/generation', {
      data: { model: 'qwen-image-2.0', input: { messages: [{ role: 'user', content: [{ text: 'a' }, { text: 'b' }] }] } },
    });
    expect(twoTexts.body['message']).toContain('exactly one text');
    const noImage = await sdkRequest(fake(), 'services/aigc/multimodal-generation/generation', {
      data: { model: 'qwen-image-edit-plus', input: { messages: [{ role: 'user', content: [{ text: 'edit what?' }] }] } },
    });
    expect(noImage.body['message']).toContain('1 to 3 input images');
  });

  it('says UNKNOWN for a task it does not know, cancels only PENDING tasks, and expires result URLs with OSS’s 403', async () => {
    const unknown = await waitForTask(fake(), '00000000-0000-0000-0000-000000000000');
    expect((unknown['output'] as { task_status: string }).task_status).toBe('UNKNOWN');
    const created = await asyncCall(fake(), { model: 'wan2.2-t2i-flash', input: { prompt: 'x' }, parameters: {} });
    const taskId = (created.body['output'] as { task_id: string }).task_id;
    expect((await sdkRequest(fake(), `tasks/${taskId}/cancel`)).status).toBe(200);
    expect((await sdkRequest(fake(), `tasks/${taskId}/cancel`)).body['code']).toBe('UnsupportedOperation');
    expect(((await waitForTask(fake(), taskId))['output'] as { task_status: string }).task_status).toBe('CANCELED');

    fake().switches.resultUrlTtlMs = 0;
    const second = await asyncCall(fake(), { model: 'wan2.2-t2i-flash', input: { prompt: 'y' }, parameters: {} });
    const done = await waitForTask(fake(), (second.body['output'] as { task_id: string }).task_id);
    const url = (done['output'] as { results: { url: string }[] }).results[0]?.url ?? '';
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain('Request has expired');
    delete fake().switches.resultUrlTtlMs;
  });

  it('answers a wrong key with InvalidApiKey, and its failure switches in DashScope’s codes', async () => {
    const wrong = await sdkRequest(fake(), 'tasks/x', { method: 'GET', key: 'sk-wrong' });
    expect([wrong.status, wrong.body['code'], wrong.body['message']]).toEqual([401, 'InvalidApiKey', 'Invalid API-key provided.']);
    const data = { model: 'wan2.2-t2i-flash', input: { prompt: 'x' }, parameters: {} };
    fake().switches.outOfFunds = true;
    expect((await asyncCall(fake(), data)).body['code']).toBe('Arrearage');
    delete fake().switches.outOfFunds;
    fake().switches.moderation = 'input';
    expect((await asyncCall(fake(), data)).body['code']).toBe('DataInspectionFailed');
    fake().switches.ipInfringement = true;
    expect((await asyncCall(fake(), data)).body['code']).toBe('IPInfringementSuspect');
    delete fake().switches.moderation;
    fake().switches.failStatus = 429;
    expect((await asyncCall(fake(), data)).body['code']).toBe('Throttling.RateQuota');
    delete fake().switches.failStatus;
  });
});
