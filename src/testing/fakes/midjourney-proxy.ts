// A local fake of midjourney-proxy (novicezk/midjourney-proxy and the trueai-org "plus" fork that relays
// run): the submit routes, the task object, fetch and list-by-condition, and the images it links to.
//
// Its rules, with their origin:
// - Auth (novicezk ApiAuthorizeInterceptor.preHandle): when an api-secret is configured, the
//   `mj-api-secret` header must equal it, else `response.setStatus(SC_UNAUTHORIZED)` with no body.
// - Submit answers (SubmitResultVO, ReturnCode.java), HTTP 200 even when refused:
//   `{code, description, result, properties}`; 1 SUCCESS "提交成功" with the new task id in `result`,
//   3 NOT_FOUND, 4 VALIDATION_ERROR, 9 FAILURE, 21 EXISTED, 22 IN_QUEUE, 23 QUEUE_REJECTED, 24 BANNED_PROMPT.
// - imagine (SubmitController.imagine): a blank prompt → `fail(VALIDATION_ERROR, "prompt不能为空")`;
//   `if (BannedPromptUtils.isBanned(promptEn)) return SubmitResultVO.fail(ReturnCode.BANNED_PROMPT, "可能包含敏感词")`
//   (relays add `properties: {promptEn, bannedWord}`, shared/specs/providers/midjourney-proxy.md);
//   `task.setId(RandomUtil.randomNumbers(16))` — 16-digit ids; `task.setDescription("/imagine " + prompt)`.
// - change/action (SubmitController.change): the target task missing → `fail(NOT_FOUND, "关联任务不存在或已失效")`;
//   not SUCCESS → `fail(VALIDATION_ERROR, "关联任务状态错误")`. `/submit/action` (plus) takes
//   `{customId, taskId}` with a customId of the target's `buttons`.
// - The task (TaskStatus; the spec's task object): NOT_START → SUBMITTED → IN_PROGRESS ("0%"…) → SUCCESS
//   or FAILURE with `failReason`; `progress` a string percentage; an IMAGINE's `imageUrl` is one 2×2 grid;
//   `buttons` U1–U4, 🔄 reroll (`MJ::JOB::reroll::0::<hash>::SOLO`), V1–V4 as `MJ::JOB::upsample::1::<hash>`;
//   times in ms.
// - `GET /mj/task/{id}/fetch` (TaskController.getTask: `return this.taskHelper.findById(id)`): an unknown id
//   answers HTTP 200 with an empty body (Spring writes nothing for null). `POST /mj/task/list-by-condition
//   {"ids": [...]}` (plus, and relays: new-api's poll runner) answers the known tasks as an array.
// - A task stuck in Discord stays IN_PROGRESS until midjourney-proxy's TaskTimeoutSchedule fails it after
//   `timeoutMinutes` — `hang` leaves every task IN_PROGRESS for good.
// Switches: `moderation: 'input'` (or a banned word from `bannedWords` in the prompt) → code 24;
// `queueFull` → code 23 "队列已满，请稍后尝试"; `failReason` → the task ends FAILURE with it; `failStatus` →
// submissions answered with that HTTP status (Spring's error body); `malformed` → fetch/list bodies cut short;
// `pollsBeforeReady` → observations (fetch or list) answered IN_PROGRESS before SUCCESS (default 1);
// `resultUrlTtlMs` → image links answer 404 that long after the task finished (Discord's signed `ex=` links);
// `latencyMs` before every answer.

import { randomInt, randomUUID } from 'node:crypto';
import sharp from 'sharp';
import { createImageCache, delay, isRecord, makeTestImage, resultExpired, sendBytes, sendJson, startFakeServer, type FakeServer, type FakeSwitches, type RecordedRequest } from './shared.js';

export interface MjFakeSwitches extends FakeSwitches {
  queueFull?: boolean;
  failReason?: string;
}

export interface MjFakeOptions {
  port?: number;
  /** The proxy's `mj.api-secret`; empty or absent: no auth. */
  apiSecret?: string;
  bannedWords?: string[];
  switches?: MjFakeSwitches;
}

interface FakeButton {
  customId: string;
  emoji: string;
  label: string;
  type: number;
  style: number;
}

export interface MjFakeTask {
  id: string;
  action: 'IMAGINE' | 'UPSCALE' | 'VARIATION' | 'REROLL';
  prompt: string;
  description: string;
  /** The 2×2 grid's tile size. */
  tile: { width: number; height: number };
  hash: string;
  index: number;
  parentId?: string;
  submitTime: number;
  finishTime: number | null;
  observations: number;
  status: 'NOT_START' | 'SUBMITTED' | 'IN_PROGRESS' | 'SUCCESS' | 'FAILURE';
  failReason: string | null;
  imageCount: number;
  seed: number;
}

export interface MjFake extends FakeServer {
  switches: MjFakeSwitches;
  tasks: Map<string, MjFakeTask>;
  /** Accepted submissions (imagine + action). */
  readonly submissions: number;
  /** list-by-condition calls, and the ids each asked for. */
  readonly listCalls: string[][];
}

/** BannedPromptUtils reads a banned-words file; these stand in for it. */
export const defaultBannedWords = ['nude', 'gore'];

const ratioPattern = /--(?:ar|aspect)\s+(\d+):(\d+)/i;

export async function startMidjourneyProxyFake(options: MjFakeOptions = {}): Promise<MjFake> {
  const switches: MjFakeSwitches = options.switches ?? {};
  const banned = options.bannedWords ?? defaultBannedWords;
  const tasks = new Map<string, MjFakeTask>();
  const listCalls: string[][] = [];
  const images = createImageCache();
  let submissions = 0;
  let server: FakeServer | undefined;

  const newId = (): string => `${randomInt(1, 10)}${String(randomInt(0, 10 ** 9)).padStart(9, '0')}${String(randomInt(0, 10 ** 6)).padStart(6, '0')}`;

  function gridButtons(hash: string): FakeButton[] {
    const button = (customId: string, label: string, emoji = ''): FakeButton => ({ customId, emoji, label, type: 2, style: 2 });
    return [
      ...[1, 2, 3, 4].map((index) => button(`MJ::JOB::upsample::${index}::${hash}`, `U${index}`)),
      button(`MJ::JOB::reroll::0::${hash}::SOLO`, '', '🔄'),
      ...[1, 2, 3, 4].map((index) => button(`MJ::JOB::variation::${index}::${hash}`, `V${index}`)),
    ];
  }

  function upscaleButtons(hash: string): FakeButton[] {
    return [
      { customId: `MJ::JOB::high_variation::1::${hash}::SOLO`, emoji: '🪄', label: 'Vary (Strong)', type: 2, style: 2 },
      { customId: `MJ::JOB::low_variation::1::${hash}::SOLO`, emoji: '🪄', label: 'Vary (Subtle)', type: 2, style: 2 },
    ];
  }

  /** Each look at a task moves it along its walk: NOT_START → SUBMITTED → IN_PROGRESS … → SUCCESS/FAILURE. */
  function advance(task: MjFakeTask): void {
    if (task.status === 'SUCCESS' || task.status === 'FAILURE') return;
    task.observations += 1;
    if (switches.hang) {
      task.status = 'IN_PROGRESS';
      return;
    }
    const needed = switches.pollsBeforeReady ?? 1;
    if (task.observations <= needed) {
      task.status = task.observations === 1 ? 'SUBMITTED' : 'IN_PROGRESS';
      return;
    }
    task.finishTime = Date.now();
    if (switches.failReason !== undefined) {
      task.status = 'FAILURE';
      task.failReason = switches.failReason;
    } else {
      task.status = 'SUCCESS';
    }
  }

  function render(task: MjFakeTask): Record<string, unknown> {
    const needed = Math.max(1, switches.pollsBeforeReady ?? 1);
    const progress = task.status === 'SUCCESS' ? '100%' : task.status === 'IN_PROGRESS' ? `${Math.min(99, Math.round((task.observations / (needed + 1)) * 100))}%` : '0%';
    const done = task.status === 'SUCCESS';
    return {
      id: task.id,
      action: task.action,
      prompt: task.prompt,
      promptEn: task.prompt,
      description: task.description,
      state: '',
      status: task.status,
      progress: task.status === 'FAILURE' ? '' : progress,
      imageUrl: done ? `${server?.url}/attachments/${task.id}/${task.action === 'UPSCALE' ? 'upscaled' : 'grid_0'}.png?ex=${(task.finishTime ?? 0).toString(16)}` : null,
      failReason: task.failReason,
      submitTime: task.submitTime,
      startTime: task.submitTime + 1,
      finishTime: task.finishTime,
      buttons: done ? (task.action === 'UPSCALE' ? upscaleButtons(task.hash) : gridButtons(task.hash)) : [],
      properties: { finalPrompt: task.prompt, messageHash: task.hash },
    };
  }

  function submitResult(code: number, description: string, result: string | null = null, properties: Record<string, unknown> = {}) {
    return { code, description, result, properties };
  }

  function tileFor(prompt: string): { width: number; height: number } {
    const match = ratioPattern.exec(prompt);
    const [w, h] = match === null ? [1, 1] : [Number(match[1]), Number(match[2])];
    const scale = 256 / Math.max(w, h);
    return { width: Math.max(16, Math.round((w * scale) / 8) * 8), height: Math.max(16, Math.round((h * scale) / 8) * 8) };
  }

  function accept(task: Omit<MjFakeTask, 'id' | 'submitTime' | 'finishTime' | 'observations' | 'status' | 'failReason' | 'hash' | 'seed'>): string {
    const id = newId();
    tasks.set(id, { ...task, id, submitTime: Date.now(), finishTime: null, observations: 0, status: 'NOT_START', failReason: null, hash: randomUUID(), seed: randomInt(0, 1000) });
    submissions += 1;
    return id;
  }

  function imagine(body: Record<string, unknown>): unknown {
    const prompt = typeof body.prompt === 'string' ? body.prompt : '';
    if (prompt.trim() === '') return submitResult(4, 'prompt不能为空');
    const word = banned.find((candidate) => prompt.toLowerCase().includes(candidate));
    if (switches.moderation === 'input' || word !== undefined) return submitResult(24, '可能包含敏感词', null, { promptEn: prompt, bannedWord: word ?? prompt.split(/\s+/)[0] });
    if (switches.queueFull) return submitResult(23, '队列已满，请稍后尝试');
    const base64Array = Array.isArray(body.base64Array) ? body.base64Array : [];
    if (base64Array.some((item) => typeof item !== 'string' || !item.startsWith('data:'))) return submitResult(4, 'base64格式错误');
    const id = accept({ action: 'IMAGINE', prompt, description: `/imagine ${prompt}`, tile: tileFor(prompt), index: 0, imageCount: base64Array.length });
    return submitResult(1, '提交成功', id);
  }

  function action(body: Record<string, unknown>): unknown {
    const taskId = typeof body.taskId === 'string' ? body.taskId : '';
    const customId = typeof body.customId === 'string' ? body.customId : '';
    if (taskId === '' || customId === '') return submitResult(4, 'taskId和customId不能为空');
    const target = tasks.get(taskId);
    if (target === undefined) return submitResult(3, '关联任务不存在或已失效');
    if (target.status !== 'SUCCESS') return submitResult(4, '关联任务状态错误');
    const buttons = target.action === 'UPSCALE' ? upscaleButtons(target.hash) : gridButtons(target.hash);
    if (!buttons.some((button) => button.customId === customId)) return submitResult(4, 'customId参数错误');
    if (switches.queueFull) return submitResult(23, '队列已满，请稍后尝试');
    const [, , kind, index] = customId.split('::');
    const base = { prompt: target.prompt, tile: target.tile, parentId: target.id, imageCount: 0 };
    const id =
      kind === 'upsample'
        ? accept({ ...base, action: 'UPSCALE', index: Number(index), description: `/up ${taskId} U${index}` })
        : kind === 'reroll'
          ? accept({ ...base, action: 'REROLL', index: 0, description: `/up ${taskId} R` })
          : accept({ ...base, action: 'VARIATION', index: Number(index), description: `/up ${taskId} V${index}` });
    return submitResult(1, '提交成功', id);
  }

  async function image(task: MjFakeTask): Promise<Buffer> {
    return images(task.id, async () => {
      if (task.action === 'UPSCALE') return makeTestImage(task.tile.width * 2, task.tile.height * 2, 'png', task.seed);
      const tiles = await Promise.all([0, 1, 2, 3].map((index) => makeTestImage(task.tile.width, task.tile.height, 'png', task.seed + index)));
      return sharp({ create: { width: task.tile.width * 2, height: task.tile.height * 2, channels: 3, background: '#000000' } })
        .composite(tiles.map((input, index) => ({ input, left: (index % 2) * task.tile.width, top: Math.floor(index / 2) * task.tile.height })))
        .png()
        .toBuffer();
    });
  }

  const handler = async (request: RecordedRequest, response: import('node:http').ServerResponse): Promise<void> => {
    if (switches.latencyMs) await delay(switches.latencyMs);
    const path = request.path.split('?')[0] ?? '/';
    const attachment = /^\/attachments\/(\d+)\/[\w.]+$/.exec(path);
    if (request.method === 'GET' && attachment !== null) {
      const task = tasks.get(attachment[1] as string);
      if (task === undefined || task.status !== 'SUCCESS' || resultExpired(task.finishTime, switches.resultUrlTtlMs)) {
        response.writeHead(404, { 'content-type': 'text/plain' }).end('This content is no longer available.');
        return;
      }
      sendBytes(response, 200, await image(task), 'image/png');
      return;
    }
    if (options.apiSecret !== undefined && options.apiSecret !== '' && request.headers['mj-api-secret'] !== options.apiSecret) {
      response.writeHead(401).end();
      return;
    }
    const body = isRecord(request.json) ? request.json : {};
    if (request.method === 'POST' && (path === '/mj/submit/imagine' || path === '/mj/submit/action')) {
      if (switches.failStatus !== undefined) {
        sendJson(response, switches.failStatus, { timestamp: new Date().toISOString(), status: switches.failStatus, error: 'Internal Server Error', path });
        return;
      }
      sendJson(response, 200, path.endsWith('imagine') ? imagine(body) : action(body));
      return;
    }
    const fetchMatch = /^\/mj\/task\/([^/]+)\/fetch$/.exec(path);
    if (request.method === 'GET' && fetchMatch !== null) {
      const task = tasks.get(decodeURIComponent(fetchMatch[1] as string));
      if (task === undefined) {
        response.writeHead(200, { 'content-type': 'application/json', 'content-length': 0 }).end();
        return;
      }
      advance(task);
      if (switches.malformed) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(render(task)).slice(0, 40));
        return;
      }
      sendJson(response, 200, render(task));
      return;
    }
    if (request.method === 'POST' && path === '/mj/task/list-by-condition') {
      const ids = Array.isArray(body.ids) ? body.ids.filter((id): id is string => typeof id === 'string') : [];
      listCalls.push(ids);
      const found = ids.flatMap((id) => {
        const task = tasks.get(id);
        if (task === undefined) return [];
        advance(task);
        return [render(task)];
      });
      if (switches.malformed) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(found).slice(0, 40));
        return;
      }
      sendJson(response, 200, found);
      return;
    }
    sendJson(response, 404, { timestamp: new Date().toISOString(), status: 404, error: 'Not Found', path });
  };

  server = await startFakeServer(handler, options.port ?? 0);
  const started = server;
  return {
    url: started.url,
    requests: started.requests,
    close: started.close,
    switches,
    tasks,
    get submissions() {
      return submissions;
    },
    listCalls,
  };
}

export function fakeMain(argv: { port: number; apiKey?: string; switches: FakeSwitches }): Promise<MjFake> {
  return startMidjourneyProxyFake({ port: argv.port, switches: argv.switches, ...(argv.apiKey === undefined ? {} : { apiSecret: argv.apiKey }) });
}
