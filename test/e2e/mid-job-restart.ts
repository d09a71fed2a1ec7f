// A gateway killed with SIGKILL while its tasks' jobs run upstream, for the tests of async upstreams
// (DashScope, Kling, ComfyUI, midjourney-proxy): the rig starts a child gateway on a config in a scratch
// folder, waits until every task recorded its upstream job, kills it and starts it again on the same
// data. What each upstream must have seen stays in the test; the rig only does the choreography and
// always cleans up (the child stopped, the folder removed), also when an assertion fails.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { expect } from 'vitest';
import { apiKey, kill9, startChild, stop, waitForAll, type ChildGateway } from './child-gateway.js';
import { call, queryDatabase, sleep } from './task-helpers.js';

export interface MidJobRig {
  readonly dataDir: string;
  /** The gateway running now: the first one until `killAndRestart`, then its successor. */
  readonly child: ChildGateway;
  /** POSTs each body to /v1/images/generations?async=true and answers the task ids (every answer a 202). */
  submitAsync(bodies: Array<Record<string, unknown>>): Promise<string[]>;
  /** Waits until `count` tasks recorded an upstream job (and `alsoWhen`, if given, holds). */
  waitForRecordedJobs(count: number, alsoWhen?: () => boolean): Promise<void>;
  /** Every task's recorded upstream job, as stored (JSON text). */
  recordedJobs(): string[];
  /** SIGKILL, then `meanwhile` (e.g. let the upstream finish its jobs), then a new gateway on the same data. */
  killAndRestart(meanwhile?: () => void): Promise<void>;
  /** Polls the tasks on the running gateway until each has ended; answers their statuses in order. */
  statusesAtEnd(ids: string[]): Promise<string[]>;
  /** Width of the first image of a finished task, read from its URL or its b64_json. */
  firstImageWidth(taskId: string): Promise<number | undefined>;
}

/** `config` is written as JSON, which the YAML config loader reads as it is. */
export async function withGatewayKilledMidJobs(folderPrefix: string, config: Record<string, unknown>, scenario: (rig: MidJobRig) => Promise<void>): Promise<void> {
  const folder = await mkdtemp(join(tmpdir(), folderPrefix));
  const configFile = join(folder, 'config.yaml');
  const dataDir = join(folder, 'data');
  let child: ChildGateway | undefined;
  try {
    await writeFile(configFile, JSON.stringify(config));
    child = await startChild(dataDir, configFile);
    const running = (): ChildGateway => {
      if (child === undefined) throw new Error('no gateway is running');
      return child;
    };
    await scenario({
      dataDir,
      get child() {
        return running();
      },
      async submitAsync(bodies) {
        const answers = await Promise.all(bodies.map((json) => call(running().url, '/v1/images/generations?async=true', { key: apiKey, json })));
        expect(answers.map((answer) => answer.status)).toEqual(bodies.map(() => 202));
        return answers.map((answer) => String(answer.body.id));
      },
      async waitForRecordedJobs(count, alsoWhen) {
        for (let tries = 0; ; tries += 1) {
          const recorded = queryDatabase<{ n: number }>(dataDir, 'SELECT COUNT(*) AS n FROM tasks WHERE upstream_job IS NOT NULL')[0]?.n ?? 0;
          if (recorded === count && (alsoWhen?.() ?? true)) return;
          if (tries > 400) throw new Error(`${recorded} of ${count} tasks recorded an upstream job:\n${running().output.join('').slice(-2000)}`);
          await sleep(25);
        }
      },
      recordedJobs: () => queryDatabase<{ upstream_job: string }>(dataDir, 'SELECT upstream_job FROM tasks WHERE upstream_job IS NOT NULL').map((row) => row.upstream_job),
      async killAndRestart(meanwhile) {
        await kill9(running());
        child = undefined;
        meanwhile?.();
        child = await startChild(dataDir, configFile);
      },
      async statusesAtEnd(ids) {
        return (await waitForAll(running().url, ids, 40_000)).map((task) => task.status);
      },
      async firstImageWidth(taskId) {
        const fetched = await call(running().url, `/v1/images/tasks/${taskId}`, { key: apiKey });
        const entry = fetched.body.result?.data?.[0] as { url?: string; b64_json?: string } | undefined;
        const bytes = entry?.b64_json !== undefined ? Buffer.from(entry.b64_json, 'base64') : Buffer.from(await (await fetch(String(entry?.url))).arrayBuffer());
        return (await sharp(bytes).metadata()).width;
      },
    });
  } finally {
    if (child !== undefined) await stop(child);
    await rm(folder, { recursive: true, force: true });
  }
}
