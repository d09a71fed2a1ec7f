// Tasks against fakes of real asynchronous upstreams (BFL, Replicate): jobs recorded per call,
// cancel reaching the upstream (from the process running the task and from another one), the
// per-channel worker limit, and keys taking turns.

import { Writable } from 'node:stream';
import pino from 'pino';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppConfig } from '../../src/config/schema.js';
import { bflFakeApiKey, startBflFake, type BflFake } from '../../src/testing/fakes/bfl.js';
import { replicateFakeDefaultApiKey, startReplicateFake, type ReplicateFake } from '../../src/testing/fakes/replicate.js';
import { startTestGateway, testApiKey, type TestGateway } from '../../src/testing/gateway-harness.js';
import { call, queryDatabase, sleep, waitForTask } from './task-helpers.js';

const otherKey = 'sk-test-other-key-0000000000';

/** What the gateways of the cancel tests log, parsed, so a test can wait for a worker's own account of an event. */
const logged: Array<{ taskId?: string; msg?: string }> = [];
const logSink = new Writable({
  write(chunk: Buffer, _encoding, done) {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logged.push(JSON.parse(line) as { taskId?: string; msg?: string });
    done();
  },
});

/** Waits for something the test cannot be told about directly; the bound only keeps a broken run from hanging. */
async function until(condition: () => boolean, what: string, boundMs = 30_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} never happened`);
    await sleep(10);
  }
}
const keys = { IMAGEGATE_API_KEYS: `${testApiKey},${otherKey}` };

function taskSettings(workers: number): AppConfig['tasks'] {
  return { workers, leaseMs: 2000, retentionHours: 24, maxQueued: 100, syncTimeoutMs: 60_000 };
}

describe('Replicate: cancel reaches the upstream', () => {
  let fake: ReplicateFake;
  let gateway: TestGateway;
  let second: TestGateway | undefined;
  const channels = (url: string): AppConfig['channels'] => [
    {
      name: 'replicate',
      provider: 'replicate',
      base_url: `${url}/v1`,
      api_key: replicateFakeDefaultApiKey,
      models: ['flux-schnell'],
      model_map: { 'flux-schnell': 'black-forest-labs/flux-schnell' },
      poll_interval_ms: 20,
    },
  ];

  beforeAll(async () => {
    fake = await startReplicateFake({ switches: { pollsBeforeReady: 100_000 } });
    gateway = await startTestGateway({ channels: channels(fake.url), tasks: taskSettings(2) }, { env: keys, logger: pino({ level: 'info' }, logSink) });
  });
  afterEach(async () => {
    await second?.close();
    second = undefined;
  });
  afterAll(async () => {
    await gateway.close();
    await fake.close();
  });

  async function submitAndWaitForJob(target: TestGateway): Promise<string> {
    const submitted = await call(target.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'flux-schnell', prompt: 'a long render' } });
    expect(submitted.status).toBe(202);
    const id: string = submitted.body.id;
    for (let tries = 0; tries < 200; tries += 1) {
      const [row] = queryDatabase<{ upstream_job: string | null }>(target.dataDir, 'SELECT upstream_job FROM tasks WHERE id = ?', id);
      if (row?.upstream_job) return id;
      await sleep(20);
    }
    throw new Error('the upstream job was never recorded');
  }

  it('cancels the running prediction when the task running here is canceled', async () => {
    const cancelsBefore = fake.cancels;
    const id = await submitAndWaitForJob(gateway);
    const canceled = await call(gateway.url, `/v1/images/tasks/${id}/cancel`, { key: testApiKey, method: 'POST' });
    expect(canceled.body.status).toBe('canceled');
    // The abort sends the upstream cancel: waited for as it arrives, however long a loaded machine takes.
    await until(() => fake.cancels > cancelsBefore, 'the upstream cancel');
    const [row] = queryDatabase<{ upstream_job: string }>(gateway.dataDir, 'SELECT upstream_job FROM tasks WHERE id = ?', id);
    const predictionId = JSON.parse(row?.upstream_job ?? '{}').data.calls[0].data.id as string;
    expect(fake.requests.some((request) => request.method === 'POST' && request.path.includes(`/predictions/${predictionId}/cancel`))).toBe(true);
    expect((await call(gateway.url, `/v1/images/tasks/${id}`, { key: testApiKey })).body.status).toBe('canceled');
  });

  it('cancels upstream from another process sharing the data dir, and the running process lets go', async () => {
    second = await startTestGateway({ dataDir: gateway.dataDir, channels: channels(fake.url), tasks: taskSettings(2) }, { env: keys, logger: pino({ level: 'info' }, logSink) });
    const id = await submitAndWaitForJob(gateway);
    const [row] = queryDatabase<{ upstream_job: string; lease_owner: string }>(gateway.dataDir, 'SELECT upstream_job, lease_owner FROM tasks WHERE id = ?', id);
    const predictionId = JSON.parse(row?.upstream_job ?? '{}').data.calls[0].data.id as string;
    // Whichever process holds the task, cancel through the other one.
    const holder = row?.lease_owner === gateway.gateway.taskRuntime.tasks.owner ? gateway : second;
    const other = holder === gateway ? second : gateway;
    const canceled = await call(other.url, `/v1/images/tasks/${id}/cancel`, { key: testApiKey, method: 'POST' });
    expect(canceled.body.status).toBe('canceled');
    expect(fake.requests.some((request) => request.method === 'POST' && request.path.includes(`/predictions/${predictionId}/cancel`))).toBe(true);
    // The holder lets go when its next lease write finds the task canceled, and says so.
    await until(() => logged.some((line) => line.taskId === id && line.msg === 'task canceled while running'), 'the holder letting go');
    expect((await call(holder.url, `/v1/images/tasks/${id}`, { key: testApiKey })).body.status).toBe('canceled');
  });
});

describe('BFL: one job per call, per-channel limits, fairness', () => {
  let fake: BflFake;
  const channels = (url: string): AppConfig['channels'] => [
    { name: 'bfl', provider: 'bfl', base_url: url, api_key: bflFakeApiKey, models: ['flux-1.1-pro'], poll_interval_ms: 15 },
    // Once channels exist the offline engine serves only the models a channel names for it.
    { name: 'offline', provider: 'offline', models: ['dall-e-2'] },
  ];

  beforeAll(async () => {
    fake = await startBflFake({ switches: { pollsBeforeReady: 4 } });
  });

  /** Samples how many of the fake's jobs are unfinished at once, until stopped: the most seen. */
  function sampleRunningJobs(): { stop(): Promise<number> } {
    let sampling = true;
    let mostActive = 0;
    const sampler = (async () => {
      while (sampling) {
        mostActive = Math.max(mostActive, [...fake.tasks.values()].filter((task) => task.finalStatus === undefined).length);
        await sleep(3);
      }
    })();
    return {
      async stop() {
        sampling = false;
        await sampler;
        return mostActive;
      },
    };
  }
  afterAll(async () => fake.close());

  /** Runs `work` against a gateway started with `config`, and answers the most of the fake's jobs that were running at once meanwhile. */
  async function mostJobsRunningDuring(config: Partial<AppConfig>, work: (gateway: TestGateway) => Promise<void>): Promise<number> {
    const gateway = await startTestGateway(config, { env: keys });
    const sampler = sampleRunningJobs();
    let mostActive = 0;
    try {
      await work(gateway);
    } finally {
      mostActive = await sampler.stop();
      await gateway.close();
    }
    return mostActive;
  }

  it('records one upstream job per call when n is split, and delivers every image', async () => {
    const gateway = await startTestGateway({ channels: channels(fake.url), tasks: taskSettings(4) }, { env: keys });
    try {
      const before = fake.submissions;
      const submitted = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'flux-1.1-pro', prompt: 'three', n: 3, size: '1024x1024' } });
      const done = await waitForTask(gateway.url, testApiKey, submitted.body.id);
      expect(done.status).toBe('succeeded');
      expect(done.result.data).toHaveLength(3);
      expect(fake.submissions - before).toBe(3);
      const [row] = queryDatabase<{ upstream_job: string }>(gateway.dataDir, 'SELECT upstream_job FROM tasks WHERE id = ?', done.id);
      const recorded = JSON.parse(row?.upstream_job ?? '{}');
      expect(recorded.data.calls.map((job: { provider: string; channel: string }) => [job.provider, job.channel])).toEqual([
        ['bfl', 'bfl'],
        ['bfl', 'bfl'],
        ['bfl', 'bfl'],
      ]);
      const fakeIds = new Set(fake.tasks.keys());
      for (const job of recorded.data.calls) expect(fakeIds.has(job.data.id)).toBe(true);
    } finally {
      await gateway.close();
    }
  });

  it('runs at most `workers` tasks of a channel at once, without holding back other channels', async () => {
    const mostActive = await mostJobsRunningDuring({ channels: channels(fake.url), tasks: taskSettings(2) }, async (gateway) => {
      const ids: string[] = [];
      for (let index = 0; index < 6; index += 1) {
        const response = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'flux-1.1-pro', prompt: `limit ${index}` } });
        ids.push(response.body.id);
      }
      // A task for the offline channel is not stuck behind the busy BFL channel.
      const offline = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'dall-e-2', prompt: 'quick', size: '256x256' } });
      const offlineDone = await waitForTask(gateway.url, testApiKey, offline.body.id);
      const stillRunning = queryDatabase<{ n: number }>(gateway.dataDir, "SELECT COUNT(*) AS n FROM tasks WHERE model = 'flux-1.1-pro' AND status != 'succeeded'");
      expect(offlineDone.status).toBe('succeeded');
      expect(stillRunning[0]?.n).toBeGreaterThan(0);
      for (const id of ids) expect((await waitForTask(gateway.url, testApiKey, id)).status).toBe('succeeded');
    });
    expect(mostActive).toBe(2);
  });

  it("runs no more of a channel's tasks at once than its max_concurrency, so none meets a full line", async () => {
    // max_queue 0: a call that finds the channel's slots taken is refused as busy at once. With 8 task
    // workers and 2 slots, tasks claimed beyond the slots would fail (no other channel serves the model).
    const limited: AppConfig['channels'] = [{ ...(channels(fake.url)[0] as AppConfig['channels'][number]), max_concurrency: 2, max_queue: 0 }];
    const mostActive = await mostJobsRunningDuring({ channels: limited, tasks: taskSettings(8) }, async (gateway) => {
      const ids: string[] = [];
      for (let index = 0; index < 6; index += 1) {
        const response = await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'flux-1.1-pro', prompt: `slots ${index}` } });
        expect(response.status).toBe(202);
        ids.push(response.body.id);
      }
      for (const id of ids) expect((await waitForTask(gateway.url, testApiKey, id)).status).toBe('succeeded');
    });
    expect(mostActive).toBe(2);
  });

  it('holds no more input images in memory at once than tasks.max_input_mb: edits too large to fit together run one at a time', async () => {
    // Random pixels do not compress: each PNG is about 530 KB, so two do not fit in 1 MB, three fit in 3 MB.
    const side = 420;
    const noise = Buffer.alloc(side * side * 3);
    for (let index = 0; index < noise.length; index += 1) noise[index] = (index * 2654435761) >>> 24;
    const source = await sharp(noise, { raw: { width: side, height: side, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    expect(source.length).toBeGreaterThan(512 * 1024);
    const kontext: AppConfig['channels'] = [{ name: 'bfl', provider: 'bfl', base_url: fake.url, api_key: bflFakeApiKey, models: ['flux-kontext-pro'], poll_interval_ms: 15 }];

    const mostRunningWith = (maxInputBytes: number): Promise<number> =>
      mostJobsRunningDuring({ channels: kontext, tasks: { ...taskSettings(4), maxInputBytes } }, async (gateway) => {
        const ids: string[] = [];
        for (let index = 0; index < 3; index += 1) {
          const form = new FormData();
          form.append('model', 'flux-kontext-pro');
          form.append('prompt', `budget ${index}`);
          form.append('async', 'true');
          form.append('image', new Blob([source], { type: 'image/png' }), 'noise.png');
          const submitted = await call(gateway.url, '/v1/images/edits', { key: testApiKey, form });
          expect(submitted.status).toBe(202);
          ids.push(submitted.body.id);
        }
        for (const id of ids) expect((await waitForTask(gateway.url, testApiKey, id)).status).toBe('succeeded');
      });

    expect(await mostRunningWith(1024 * 1024)).toBe(1);
    // The same edits with room for all three: the four workers run them together.
    expect(await mostRunningWith(3 * 1024 * 1024)).toBe(3);
  });

  it("takes keys in turn: one key's backlog does not hold back another key's task", async () => {
    const gateway = await startTestGateway({ channels: channels(fake.url), tasks: taskSettings(1) }, { env: keys });
    // The first task runs until every task is queued, so the order does not depend on timing.
    fake.switches.pollsBeforeReady = 100_000;
    try {
      const backlog: string[] = [];
      for (let index = 0; index < 4; index += 1) {
        backlog.push((await call(gateway.url, '/v1/images/generations?async=true', { key: testApiKey, json: { model: 'flux-1.1-pro', prompt: `backlog ${index}` } })).body.id);
      }
      const newcomer = (await call(gateway.url, '/v1/images/generations?async=true', { key: otherKey, json: { model: 'flux-1.1-pro', prompt: 'newcomer' } })).body.id as string;
      await waitForTask(gateway.url, testApiKey, backlog[0] ?? '', { until: (task) => task.status === 'in_progress' });
      fake.switches.pollsBeforeReady = 4;
      for (const id of [...backlog, newcomer]) await waitForTask(gateway.url, id === newcomer ? otherKey : testApiKey, id);
      const order = queryDatabase<{ id: string }>(gateway.dataDir, 'SELECT id FROM tasks WHERE id IN (?, ?, ?, ?, ?) ORDER BY started_at', ...backlog, newcomer).map((row) => row.id);
      // Oldest first would run the newcomer fifth; taking turns runs it right after the task already running.
      expect(order).toEqual([backlog[0], newcomer, backlog[1], backlog[2], backlog[3]]);
    } finally {
      fake.switches.pollsBeforeReady = 4;
      await gateway.close();
    }
  });
});
